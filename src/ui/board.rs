//! What re-reads the session board: every action made with [`board_action`] inside it. A new
//! control calls `board_action::<ItsServerFn>()` where its form is, and the board shows what it
//! changed when it completes — there is no list of actions to extend, and no struct to hand
//! them down in.

use std::any::{Any, TypeId};

use leptos::{prelude::*, server_fn::ServerFn};

use crate::shared::error::ApiError;

/// The board being built: what its completed actions bump, and its actions, one per server
/// function, owned by the board itself. The parts of the board are drawn anew at each re-read;
/// an action they made would go with them, and with it the message of its last error.
#[derive(Clone)]
pub struct BoardRefresh {
    count: RwSignal<u32>,
    actions: StoredValue<Vec<(TypeId, Box<dyn Any + Send + Sync>)>>,
    /// Weak: this sits in the board owner's own context, and a strong `Owner` there would keep
    /// the owner alive through itself — on the server, every render of the page, for ever.
    owner: WeakOwner,
}

impl BoardRefresh {
    /// The refresh of the board being built, for the actions made inside it.
    pub fn provide() -> Self {
        let refresh = BoardRefresh {
            count: RwSignal::new(0),
            actions: StoredValue::new(Vec::new()),
            owner: Owner::current().unwrap_or_default().downgrade(),
        };
        provide_context(refresh.clone());
        refresh
    }

    /// Changes whenever an action of the board completes.
    pub fn count(&self) -> u32 {
        self.count.get()
    }
}

/// The board's action for server function `S`, made the first time it is asked for: it re-reads
/// the board when it completes (in the browser; without JavaScript the form's post is answered
/// with the page anew anyway). Outside a board, a plain action.
pub fn board_action<S>() -> ServerAction<S>
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let Some(board) = use_context::<BoardRefresh>() else {
        return ServerAction::new();
    };
    let made = board.actions.with_value(|actions| {
        actions
            .iter()
            .find(|(id, _)| *id == TypeId::of::<S>())
            .and_then(|(_, action)| action.downcast_ref::<ServerAction<S>>().copied())
    });
    if let Some(action) = made {
        return action;
    }
    let count = board.count;
    let make = move || {
        let action = ServerAction::<S>::new();
        Effect::new(move |_| {
            if action.version().get() > 0 {
                count.update(|n| *n += 1);
            }
        });
        action
    };
    // The board is being built, so its owner is alive.
    let action = match board.owner.upgrade() {
        Some(owner) => owner.with(make),
        None => make(),
    };
    board
        .actions
        .update_value(|actions| actions.push((TypeId::of::<S>(), Box::new(action))));
    action
}

/// The message of `action`'s last error, under its form. An outage's error belongs to the
/// outage: once the store answers again (the card is drawn anew with each re-read of the
/// session) it is history, and the message goes.
#[component]
pub fn ErrorLine<S>(
    action: ServerAction<S>,
    store_down: bool,
    testid: &'static str,
) -> impl IntoView
where
    S: ServerFn<Error = ApiError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let current = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .filter(|err| store_down || !err.is_store_unavailable())
    };
    move || {
        current()
            .map(|err| view! { <p class="error" role="alert" data-testid=testid>{err.message}</p> })
    }
}
