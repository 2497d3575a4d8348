//! The session page: the live session panel, the counter, the note, "forget this session".
//! Every control is a form, so the page also works without JavaScript (the server function
//! answers a plain form post with a redirect back here).

use leptos::either::Either;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;

use crate::{
    shared::{
        clock::{format_utc, now_ms},
        dto::{SessionListing, SessionView},
        error::ApiError,
        input::{Theme, NOTE_MAX_CHARS},
    },
    ui::{
        account::{list_sessions, AccountActions, AccountPanel, ErrorLine, SignInForms},
        codec::Json,
        session_panel::{SessionPanel, StaySignedIn},
    },
};

/// The current session. `GET /api/session`.
#[server(prefix = "/api", endpoint = "session", input = GetUrl)]
pub async fn get_session() -> Result<SessionView, ApiError> {
    Ok(crate::server::context::app_session()?.view().await?)
}

/// Adds one to the session's counter and returns it. `POST /api/increment`.
#[server(prefix = "/api", endpoint = "increment")]
pub async fn increment_counter() -> Result<i64, ApiError> {
    Ok(crate::server::context::app_session()?
        .increment_counter()
        .await?)
}

/// Stores a short note in the session. `POST /api/note` with form field `note`.
#[server(prefix = "/api", endpoint = "note")]
pub async fn save_note(note: String) -> Result<String, ApiError> {
    use crate::shared::{input::Note, session_keys::NOTE};
    let note = Note::parse(&note)?;
    let session = crate::server::context::app_session()?;
    session.set(NOTE.name, note.as_str()).await?;
    Ok(note.as_str().to_string())
}

/// Stores the colour theme with the plain tower-sessions API, as any handler would: the session
/// layer saves the change after the response. `POST /api/preferences` with form field `theme` =
/// `light`, `dark` or `default` (removes the preference).
#[server(prefix = "/api", endpoint = "preferences")]
pub async fn save_preferences(theme: String) -> Result<Theme, ApiError> {
    use crate::server::error::{misconfigured, store_unavailable};
    let theme = Theme::parse(&theme)?;
    let session: tower_sessions::Session =
        (leptos_axum::extract().await).map_err(|_| misconfigured("the session layer"))?;
    let stored = match theme {
        Theme::Default => session.remove_value("theme").await.map(|_| ()),
        chosen => session.insert("theme", chosen.as_str()).await,
    };
    // The error itself says little; the request store knows whether Redis was away.
    stored.map_err(|err| store_unavailable(&err.to_string()))?;
    Ok(theme)
}

/// Deletes the session from Redis and clears its cookie. `POST /api/forget`.
#[server(prefix = "/api", endpoint = "forget")]
pub async fn forget_session() -> Result<(), ApiError> {
    use crate::server::{context, observability::EndReason};
    Ok(context::app_session()?.end(EndReason::Forgotten).await?)
}

/// What the board shows: the session and, when someone is signed in, their sessions.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Board {
    view: SessionView,
    sessions: Option<Result<Vec<SessionListing>, ApiError>>,
}

/// Reads the session, then the signed-in user's sessions. One resource for both: a second one
/// inside the signed-in panel, with a `Transition` of its own, did not hydrate inside the island.
/// Rendering the page, the server calls the functions directly: an error is the page's answer.
async fn read_board() -> Result<Board, ApiError> {
    let view = get_session().await.map_err(ApiError::answered)?;
    let sessions = match view.user {
        Some(_) => Some(list_sessions().await.map_err(ApiError::answered)),
        None => None,
    };
    Ok(Board { view, sessions })
}

/// The home page: the session board, the one part of the page that runs in the browser.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="sessionboard"/>
        <SessionBoard/>
    }
}

/// The session, live: the panel, the account forms and the controls, re-read after every action.
/// An island: it hydrates in the browser, the page around it does not.
#[island]
fn SessionBoard() -> impl IntoView {
    // Made here, once: the parts below are drawn anew at each re-read of the session, and the
    // board re-reads it whenever one of its actions completes.
    let controls = Controls::default();
    let account = AccountActions::default();
    // Bumped to re-read the session: after the store was unavailable, and when a deadline passed.
    let recheck = RwSignal::new(0u32);
    let session = Resource::<_, Json>::new_with_options(
        move || (controls.version() + account.version(), recheck.get()),
        |_| read_board(),
        false,
    );

    // One clock for all countdowns; it only ticks in the browser.
    let now = RwSignal::new(now_ms());
    // The deadline of a session this page watched run out, so it can say when it ended.
    let expired_at = RwSignal::new(None::<i64>);
    tick(now, session, expired_at, recheck);
    let announcement = announcements(controls.increment, expired_at);

    view! {
        <p class="visually-hidden" aria-live="polite" data-testid="announcer">{move || announcement.get()}</p>
        <Transition fallback=|| view! { <p class="loading">"Loading the session…"</p> }>
            {move || Suspend::new(async move {
                let result = session.await;
                let store_down = matches!(&result, Err(err) if err.is_store_unavailable());
                let (theme, content) = match result {
                    Ok(Board { view, sessions }) => {
                        let account_view = match (view.user.clone(), view.signed_in_at, sessions) {
                            (Some(user), Some(since), Some(sessions)) => Either::Left(view! {
                                <AccountPanel user signed_in_at=since sessions actions=account/>
                            }),
                            _ => Either::Right(view! { <SignInForms actions=account/> }),
                        };
                        let theme = view.theme();
                        (theme, view! { <SessionPanel view now stay=controls.stay expired_at/> {account_view} }.into_any())
                    }
                    Err(err) => (Theme::Default, view! { <StoreBanner err/> }.into_any()),
                };
                view! {
                    <div class="page" data-theme=theme.as_str() data-testid="page">
                        <header class="masthead">
                            <h1>"sessionboard"</h1>
                            <p class="tagline">"Your server-side session, live from Redis."</p>
                            // A plain link: inside an island there is no router (nor need of one).
                            <nav aria-label="Pages"><a href="/about">"How it works"</a></nav>
                        </header>
                        {content}
                        <ControlsCard theme store_down actions=controls/>
                    </div>
                }
            })}
        </Transition>
    }
}

/// What screen readers hear without the focus moving: the counter, and an expiry.
fn announcements(
    increment: ServerAction<IncrementCounter>,
    expired_at: RwSignal<Option<i64>>,
) -> RwSignal<String> {
    let announcement = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(count)) = increment.value().get() {
            announcement.set(format!("Counter: {count}"));
        }
    });
    Effect::new(move |_| {
        if let Some(at) = expired_at.get() {
            announcement.set(format!("Your session expired at {}.", format_utc(at)));
        }
    });
    announcement
}

/// Ticks the page's clock every second (in the browser only), and re-reads the session when it is
/// due: every 2 s while the store is unavailable, and once when the session's deadline has passed.
fn tick(
    now: RwSignal<i64>,
    session: Resource<Result<Board, ApiError>, Json>,
    expired_at: RwSignal<Option<i64>>,
    recheck: RwSignal<u32>,
) {
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                now.set(now_ms());
                let due = match session.get_untracked() {
                    // Retry every 2 s while the store is unavailable.
                    Some(Err(err)) => err.is_store_unavailable() && now_ms() / 1000 % 2 == 0,
                    // Re-read once when the session's deadline has just passed; a live session
                    // again makes the old expiry history.
                    Some(Ok(Board { view, .. })) if view.active => {
                        let passed = now_ms() >= view.expires_at + 500;
                        if passed || expired_at.get_untracked().is_some() {
                            expired_at.set(passed.then_some(view.expires_at));
                        }
                        passed
                    }
                    _ => false,
                };
                if due {
                    recheck.update(|n| *n += 1);
                }
            },
            std::time::Duration::from_secs(1),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    });
}

/// The actions of the session's controls: "Stay signed in" and the "Try it" card.
#[derive(Clone, Copy, Default)]
struct Controls {
    stay: ServerAction<StaySignedIn>,
    increment: ServerAction<IncrementCounter>,
    save: ServerAction<SaveNote>,
    preferences: ServerAction<SavePreferences>,
    forget: ServerAction<ForgetSession>,
}

impl Controls {
    /// Changes whenever one of them completes.
    fn version(&self) -> usize {
        self.stay.version().get()
            + self.increment.version().get()
            + self.save.version().get()
            + self.preferences.version().get()
            + self.forget.version().get()
    }
}

/// The "Try it" card: a control is its server function's action and its form.
#[component]
fn ControlsCard(theme: Theme, store_down: bool, actions: Controls) -> impl IntoView {
    let option = move |value: Theme, label: &'static str| {
        view! { <option value=value.as_str() selected=theme == value>{label}</option> }
    };
    view! {
        <section class="card controls">
            <h2>"Try it"</h2>
            <ActionForm action=actions.increment attr:class="inline-form">
                <button type="submit" data-testid="increment">"Count +1"</button>
            </ActionForm>
            <ErrorLine action=actions.increment store_down testid="counter-error"/>
            <ActionForm action=actions.save attr:class="note-form">
                <label for="note">"Note (up to " {NOTE_MAX_CHARS} " characters)"</label>
                <div class="row">
                    <input id="note" name="note" type="text" maxlength="400" autocomplete="off" required/>
                    <button type="submit" data-testid="save-note">"Save note"</button>
                </div>
            </ActionForm>
            <ErrorLine action=actions.save store_down testid="note-error"/>
            <ActionForm action=actions.preferences attr:class="note-form">
                <label for="theme">"Theme (kept in the session)"</label>
                <div class="row">
                    <select id="theme" name="theme" data-testid="theme">
                        {option(Theme::Default, "Follow the system")}
                        {option(Theme::Light, "Light")}
                        {option(Theme::Dark, "Dark")}
                    </select>
                    <button type="submit" data-testid="save-theme">"Apply"</button>
                </div>
            </ActionForm>
            <ErrorLine action=actions.preferences store_down testid="theme-error"/>
            <ActionForm action=actions.forget attr:class="inline-form">
                <button type="submit" class="danger" data-testid="forget">"Forget this session"</button>
            </ActionForm>
        </section>
    }
}

/// Drawn anew at each re-read of the session, so the moment it was drawn is the last try.
#[component]
fn StoreBanner(err: ApiError) -> impl IntoView {
    let text = match err.is_store_unavailable() {
        true => Either::Left(view! {
            "Session store unavailable — retrying every 2 s. Last try: "
            <span data-testid="last-try">{format_utc(now_ms())}</span>
            ". Nothing you do is saved until it is back."
        }),
        false => Either::Right(err.message),
    };
    view! { <p class="banner" role="alert" data-testid="store-banner">{text}</p> }
}
