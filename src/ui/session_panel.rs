//! The session panel: what the session holds and, as two bars and as text, how long it has
//! left — the idle timeout (slides with activity) and the absolute one (does not).

use leptos::prelude::*;

use crate::shared::{
    clock::{format_remaining, format_utc},
    dto::SessionView,
    error::ApiError,
};

/// Pushes the idle deadline back now ("stay signed in"). `POST /api/stay`.
#[server(prefix = "/api", endpoint = "stay")]
pub async fn stay_signed_in() -> Result<SessionView, ApiError> {
    Ok(crate::server::context::app_session()?.stay().await?)
}

#[component]
pub fn SessionPanel(
    view: SessionView,
    now: RwSignal<i64>,
    stay: ServerAction<StaySignedIn>,
    expired_at: RwSignal<Option<i64>>,
) -> impl IntoView {
    if !view.active {
        let notice = match expired_at.get_untracked() {
            Some(at) => Some(format!("Your session expired at {}. A new one starts with your next action.", format_utc(at))),
            None if view.previous_ended => Some(
                "Your previous session has ended (it expired or was signed out). A new one starts with your next action."
                    .to_string(),
            ),
            None => None,
        }
        .map(|text| view! { <p class="notice" data-testid="ended-notice">{text}</p> });
        return view! {
            <section class="card panel" data-testid="session-panel" data-active="false">
                <h2>"No session yet"</h2>
                {notice}
                <p>"Count or save a note to start one. Sessions end after "
                    {format_remaining(view.idle_timeout_seconds as i64 * 1000)}
                    " without activity, or "
                    {format_remaining(view.absolute_timeout_seconds as i64 * 1000)}
                    " after they began."</p>
                <p>"Counter: " <strong data-testid="counter">"0"</strong></p>
            </section>
        }
        .into_any();
    }
    let expires_at = view.expires_at;
    let idle_at = view.idle_expires_at;
    let absolute_at = view.absolute_expires_at;
    let expired = move || now.get() >= expires_at;
    view! {
        <section class="card panel" data-testid="session-panel" data-active="true">
            <h2>"Session " <code data-testid="fingerprint">{view.id_fingerprint.clone()}</code></h2>
            <Show when=expired>
                <p class="notice" data-testid="expired-notice">
                    "This session expired at " {format_utc(expires_at)} "."
                </p>
            </Show>
            <div class="timeline" data-testid="timeline">
                <LifetimeBar name="idle" label="Idle" ends_at=idle_at total_seconds=view.idle_timeout_seconds now/>
                <LifetimeBar name="absolute" label="Absolute" ends_at=absolute_at
                    total_seconds=view.absolute_timeout_seconds now mark=expires_at/>
            </div>
            <dl>
                <dt>"Counter"</dt>
                <dd><strong data-testid="counter">{view.counter}</strong></dd>
                <dt>"Note"</dt>
                <dd data-testid="note">{view.note()}</dd>
                <dt>"Created"</dt>
                <dd>{format_utc(view.created_at)}</dd>
                <dt>"Last active"</dt>
                <dd>{format_utc(view.last_active)}</dd>
                <dt>"Idle expiry in"</dt>
                <dd data-testid="idle-countdown">{move || format_remaining(idle_at - now.get())}</dd>
                <dt>"Absolute expiry in"</dt>
                <dd data-testid="absolute-countdown">{move || format_remaining(absolute_at - now.get())}</dd>
                <dt>"Expires at"</dt>
                <dd data-testid="expires-at">{format_utc(expires_at)}</dd>
                <dt>"Redis TTL when loaded"</dt>
                <dd data-testid="ttl">{view.ttl_seconds} " s"</dd>
            </dl>
            <ActionForm action=stay attr:class="inline-form stay-form">
                <button type="submit" data-testid="stay">"Stay signed in"</button>
            </ActionForm>
        </section>
    }
    .into_any()
}

/// `left` of `total` as a percentage from 0 to 100.
fn percent(left: i64, total: i64) -> f64 {
    (left.max(0) as f64 * 100.0 / total as f64).min(100.0)
}

/// One lifetime, moving every second: a `meter` whose fill is what is left of it, with its time
/// as text for screen readers, and at `mark` where the session ends if nothing happens ("Stay
/// signed in" refills the idle bar).
#[component]
fn LifetimeBar(
    name: &'static str,
    label: &'static str,
    ends_at: i64,
    total_seconds: u64,
    now: RwSignal<i64>,
    #[prop(optional)] mark: Option<i64>,
) -> impl IntoView {
    let total = (total_seconds as i64 * 1000).max(1);
    let left = move || ends_at - now.get();
    let label_id = format!("{name}-bar-label");
    view! {
        <div class="timeline-row">
            <span class="timeline-label" id=label_id.clone()>{label}</span>
            <div class="bar" role="meter" aria-labelledby=label_id data-testid=format!("{name}-bar")
                aria-valuemin="0" aria-valuemax=total / 1000
                aria-valuenow=move || left().max(0) / 1000
                aria-valuetext=move || format!("{} left of {}", format_remaining(left()), format_remaining(total))>
                // SVG attributes, not inline styles: the page's Content-Security-Policy allows no
                // `style` attribute, and these draw the same without JavaScript.
                <svg class="bar-drawing" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                    <rect class=format!("fill {name}") height="10" width=move || format!("{:.3}", percent(left(), total))></rect>
                    {mark.map(|mark| view! {
                        <rect class="deadline-mark" x=format!("{:.3}", (99.5 - percent(ends_at - mark, total)).max(0.0)) width="1" height="10">
                            <title>"the session ends here if idle"</title>
                        </rect>
                    })}
                </svg>
            </div>
        </div>
    }
}
