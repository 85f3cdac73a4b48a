"""The admin console: server-rendered pages at `/ui`, served by the gateway itself (no build step).

How it is put together (read `README.md` in this directory for the step-by-step of adding a page):

- `app.build_console()` builds the sub-application `create_app` mounts at `/ui` (through `mount.Console`, which
  builds it on the first request under `/ui`): every page's router, the packaged static files at `/ui/static`,
  and error handlers that render an HTML page (never a stack trace).
- `pages.PAGES` is the one list of pages: each page module exposes `PAGE = Page(...)` (`page.Page`): its router
  and, optionally, its navigation entry and who sees that entry.
- `session`: the browser session (a cookie backed by the `sessions` table), `open_session` for sign-in flows.
- `deps`: `SignedIn` (the principal of the session, or a redirect to the sign-in page) and `Form` (the posted
  form, its CSRF token checked).
- `render.render(request, "page.html", {...})`: a template inside the layout, with the navigation.
"""
