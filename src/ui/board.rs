//! What re-reads the session board: every action made with [`board_action`] inside it. A new
//! control creates its action here, and the board shows what it changed when it completes —
//! there is no list of actions to extend.

use leptos::{prelude::*, server_fn::ServerFn};

/// Counts the board's completed actions; the board's resource reads it.
#[derive(Clone, Copy)]
pub struct BoardRefresh(RwSignal<u32>);

impl BoardRefresh {
    /// The refresh of the board being built, for the actions made inside it.
    pub fn provide() -> Self {
        let refresh = BoardRefresh(RwSignal::new(0));
        provide_context(refresh);
        refresh
    }

    /// Changes whenever an action of the board completes.
    pub fn count(&self) -> u32 {
        self.0.get()
    }
}

/// A server action that re-reads the board when it completes (in the browser; without
/// JavaScript the form's post is answered with the page anew anyway).
pub fn board_action<S>() -> ServerAction<S>
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let action = ServerAction::<S>::new();
    if let Some(BoardRefresh(count)) = use_context::<BoardRefresh>() {
        Effect::new(move |_| {
            if action.version().get() > 0 {
                count.update(|n| *n += 1);
            }
        });
    }
    action
}
