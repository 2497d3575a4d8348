//! Accounts on the session page: register, sign in and out, "Your sessions", password change.
//! Server functions sit next to the components that call them.

use leptos::prelude::*;
use leptos::server_fn::{codec::GetUrl, ServerFn};

use crate::shared::{
    clock::format_utc,
    dto::SessionListing,
    error::ApiError,
    input::{PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN},
};

/// Creates an account. `POST /api/register` with `username`, `password`.
#[server(prefix = "/api", endpoint = "register")]
pub async fn register(username: String, password: String) -> Result<String, ApiError> {
    use crate::server::context;
    use crate::shared::input::{Password, Username};
    let username = Username::parse(&username)?;
    let password = Password::new_checked(password)?;
    let (accounts, client) = (&context::state()?.accounts, context::client());
    accounts.register(&username, password, &client).await?;
    Ok(username.to_string())
}

/// Signs in, cycling the session id. `POST /api/login` with `username`, `password`.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<String, ApiError> {
    use crate::server::context;
    let (session, client) = (context::app_session()?, context::client());
    let device = context::trusted_device(&username);
    let accounts = &context::state()?.accounts;
    let user = (accounts.sign_in(&session, &username, password, &client, device.as_ref())).await?;
    context::remember_device(&user);
    Ok(user.to_string())
}

/// Signs out: the session is deleted from Redis and the cookie cleared. `POST /api/logout`.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    use crate::server::{context, observability::EndReason};
    Ok(context::app_session()?.end(EndReason::SignedOut).await?)
}

/// The signed-in user's live sessions. `GET /api/sessions`.
#[server(prefix = "/api", endpoint = "sessions", input = GetUrl)]
pub async fn list_sessions() -> Result<Vec<SessionListing>, ApiError> {
    let (session, user) = crate::server::context::signed_in().await?;
    Ok(session.list_sessions(&user).await?)
}

/// Signs out one of the user's sessions. `POST /api/sessions/revoke` with `handle`, and
/// `password` unless it was entered within the re-authentication window (else 401
/// `reauth_required`). Another user's handle is answered like an unknown one: 404.
#[server(prefix = "/api", endpoint = "sessions/revoke")]
pub async fn revoke_session(handle: String, password: Option<String>) -> Result<(), ApiError> {
    use crate::server::{context, sessions::SessionHandle};
    let (session, user) = context::reauthenticated(password).await?;
    let handle = SessionHandle::from_client(handle);
    Ok(session.revoke(&user, &handle).await?)
}

/// Signs out every other session of the user. `POST /api/sessions/revoke-others`, with
/// `password` unless it was entered within the re-authentication window.
#[server(prefix = "/api", endpoint = "sessions/revoke-others")]
pub async fn revoke_other_sessions(password: Option<String>) -> Result<usize, ApiError> {
    let (session, user) = crate::server::context::reauthenticated(password).await?;
    Ok(session.revoke_others(&user).await?)
}

/// Changes the password, renews this session's id and signs out every other session.
/// `POST /api/password` with `current`, `new`.
#[server(prefix = "/api", endpoint = "password")]
pub async fn change_password(current: String, new: String) -> Result<usize, ApiError> {
    use crate::{server::context, shared::input::Password};
    let new = Password::new_checked(new)?;
    let (session, user) = context::signed_in().await?;
    let (client, device) = (context::client(), context::trusted_device(user.as_str()));
    let accounts = &context::state()?.accounts;
    let change = accounts.change_password(&session, &user, current, new, &client, device.as_ref());
    let signed_out = change.await?;
    context::remember_device(&user);
    Ok(signed_out)
}

/// The actions the account forms submit, made once by the board (the forms are drawn anew at
/// each re-read of the session; an action made there would go with them, and with it the
/// message of its last error).
#[derive(Clone, Copy, Default)]
pub struct AccountActions {
    pub register: ServerAction<Register>,
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    pub revoke: ServerAction<RevokeSession>,
    pub revoke_others: ServerAction<RevokeOtherSessions>,
    pub change_password: ServerAction<ChangePassword>,
}

impl AccountActions {
    /// Changes whenever one of them completes.
    pub fn version(&self) -> usize {
        self.register.version().get()
            + self.login.version().get()
            + self.logout.version().get()
            + self.revoke.version().get()
            + self.revoke_others.version().get()
            + self.change_password.version().get()
    }
}

/// The message of `action`'s last error, under its form. An outage's error belongs to the
/// outage: once the store answers again (the forms are drawn anew with each re-read of the
/// session) it is history, and the message goes.
#[component]
pub fn ErrorLine<S>(
    action: ServerAction<S>,
    #[prop(optional)] store_down: bool,
    #[prop(optional)] testid: Option<&'static str>,
) -> impl IntoView
where
    S: ServerFn<Error = ApiError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let error = move || action.value().get().and_then(Result::err);
    let shown = move || error().filter(|err| store_down || !err.is_store_unavailable());
    move || {
        shown()
            .map(|err| view! { <p class="error" role="alert" data-testid=testid>{err.message}</p> })
    }
}

/// Register and sign-in forms for a visitor who is not signed in.
#[component]
pub fn SignInForms(actions: AccountActions) -> impl IntoView {
    let registered = move || actions.register.value().get().and_then(Result::ok);
    view! {
        <section class="card account">
            <h2>"Sign in"</h2>
            <ActionForm action=actions.login attr:class="stacked" attr:data-testid="login-form">
                <label>"Username" <input name="username" autocomplete="username" required/></label>
                <label>"Password" <input name="password" type="password" autocomplete="current-password" required/></label>
                <button type="submit" data-testid="login">"Sign in"</button>
            </ActionForm>
            <ErrorLine action=actions.login testid="login-error"/>
            <details>
                <summary>"New here? Create an account"</summary>
                <ActionForm action=actions.register attr:class="stacked" attr:data-testid="register-form">
                    <label>"Username (" {USERNAME_MIN} "–" {USERNAME_MAX} " of a-z 0-9 . _ -)"
                        <input name="username" autocomplete="username" required/></label>
                    <label>"Password (at least " {PASSWORD_MIN} " characters)"
                        <input name="password" type="password" autocomplete="new-password" required/></label>
                    <button type="submit" data-testid="register">"Create account"</button>
                </ActionForm>
                {move || registered().map(|name| view! { <p class="ok" data-testid="registered">"Account " {name} " created — sign in above."</p> })}
                <ErrorLine action=actions.register testid="register-error"/>
            </details>
        </section>
    }
}

/// The signed-in user's panel: who, since when, sign out, "Your sessions", password change.
#[component]
pub fn AccountPanel(
    user: String,
    signed_in_at: i64,
    sessions: Result<Vec<SessionListing>, ApiError>,
    actions: AccountActions,
) -> impl IntoView {
    let password_done = move || actions.change_password.value().get().and_then(Result::ok);
    view! {
        <section class="card account" data-testid="account-panel">
            <h2>"Signed in as " <span data-testid="user">{user}</span></h2>
            <p>"Since " {format_utc(signed_in_at)} "."</p>
            <ActionForm action=actions.logout attr:class="inline-form">
                <button type="submit" class="danger" data-testid="logout">"Sign out"</button>
            </ActionForm>
            <h3>"Your sessions"</h3>
            {match sessions {
                Ok(list) => view! { <SessionList list actions/> }.into_any(),
                Err(err) => view! { <p class="error">{err.message}</p> }.into_any(),
            }}
            <ErrorLine action=actions.revoke/>
            <ErrorLine action=actions.revoke_others/>
            <ActionForm action=actions.revoke_others attr:class="inline-form">
                <input name="password" type="password" autocomplete="current-password"
                    placeholder="Password (if asked)" aria-label="Password, if asked"/>
                <button type="submit" data-testid="revoke-others">"Sign out all other sessions"</button>
            </ActionForm>
            <h3>"Change password"</h3>
            <ActionForm action=actions.change_password attr:class="stacked">
                <label>"Current password" <input name="current" type="password" autocomplete="current-password" required/></label>
                <label>"New password" <input name="new" type="password" autocomplete="new-password" required/></label>
                <button type="submit" data-testid="change-password">"Change password"</button>
            </ActionForm>
            {move || password_done().map(|n| view! { <p class="ok">"Password changed; " {n} " other session(s) signed out."</p> })}
            <ErrorLine action=actions.change_password/>
        </section>
    }
}

#[component]
fn SessionList(list: Vec<SessionListing>, actions: AccountActions) -> impl IntoView {
    view! {
        <ul class="sessions" data-testid="session-list">
            {list
                .into_iter()
                .map(|s| {
                    let handle = s.handle.clone();
                    view! {
                        <li data-testid="session-item" data-this-device=s.this_device.to_string()>
                            <div>
                                <strong title=s.user_agent data-testid="device">{s.device}</strong>
                                {s.this_device.then(|| view! { <span class="tag">"this device"</span> })}
                            </div>
                            <div class="meta">
                                {s.address} " · signed in " {format_utc(s.signed_in_at)} " · last seen "
                                {format_utc(s.last_seen)} " · " <code>{s.handle.clone()}</code>
                            </div>
                            {(!s.this_device).then(|| view! {
                                <ActionForm action=actions.revoke attr:class="inline-form">
                                    <input type="hidden" name="handle" value=handle/>
                                    <input name="password" type="password" autocomplete="current-password"
                                        placeholder="Password (if asked)" aria-label="Password, if asked"/>
                                    <button type="submit" class="small" data-testid="revoke">"Sign out"</button>
                                </ActionForm>
                            })}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
