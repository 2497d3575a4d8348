//! The about page: how the session shown on the home page works. A page of its own, so the
//! router, `<A>` links and per-page titles are exercised the way a new page would use them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn AboutPage() -> impl IntoView {
    view! {
        <Title text="How it works — sessionboard"/>
        <div class="page" data-testid="about">
            <header class="masthead">
                <h1>"How your session works"</h1>
                <nav aria-label="Pages"><A href="/">"Your session"</A></nav>
            </header>
            <section class="card">
                <h2>"Where it lives"</h2>
                <p>"Your browser keeps only a signed cookie with the session's id. Everything \
                    else — your counter, your note, your theme, who is signed in — is one hash \
                    in Redis, so it survives a restart of the server and is the same on every \
                    server instance."</p>
                <h2>"When it ends"</h2>
                <p>"A session ends when it has been idle for the idle timeout (shorter while you \
                    are not signed in), and at the latest at its absolute deadline, however \
                    active it is. Redis deletes it at that moment: the key's time to live is the \
                    deadline. The bars on your session's page show both."</p>
                <h2>"Who can end it"</h2>
                <p>"You: sign out, or forget the session. And from any of your other signed-in \
                    sessions: \"Your sessions\" lists them and signs out any one of them, or all \
                    but the one you use."</p>
            </section>
        </div>
    }
}
