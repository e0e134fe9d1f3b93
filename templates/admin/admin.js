// Live refresh: the only thing in the console that needs JavaScript. Every ten seconds,
// while the box is ticked, the page's <main> is replaced by a fresh copy of itself.
(function () {
  const key = "scim-bridge-live:" + location.pathname;
  const box = () => document.getElementById("live-refresh");
  if (!box()) return;
  box().checked = sessionStorage.getItem(key) === "1";
  document.addEventListener("change", (event) => {
    if (event.target.id === "live-refresh") {
      sessionStorage.setItem(key, event.target.checked ? "1" : "0");
    }
  });
  setInterval(async () => {
    if (!box() || !box().checked) return;
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("main");
    const main = document.getElementById("main");
    if (!fresh || !main) return;
    main.innerHTML = fresh.innerHTML;
    if (box()) box().checked = true;
  }, 10000);
})();
