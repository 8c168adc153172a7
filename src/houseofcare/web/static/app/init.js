// Progressive enhancement only: every page works without this file. Loaded as a module from
// our own origin (the Content-Security-Policy allows no inline script), it marks the body as
// able to run the NHS.UK components' scripts and starts them.
import { initAll } from "/assets/nhsuk-frontend.min.js";

document.body.classList.add("js-enabled", "nhsuk-frontend-supported");
initAll();
