// GET /: the search page, one self-contained HTML file (inline CSS and JS, no CDN): a search box, image upload
// by button or drag-and-drop, a results grid with images, titles and both scores, a re-rank toggle, and
// "more like this" on each result.
enum SearchPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>FashionVL search</title>
    <style>
      :root { --ink: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7; --accent: #0a66c2; --bg: #fafafa; }
      * { box-sizing: border-box; }
      body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
      header { padding: 18px 24px 10px; border-bottom: 1px solid var(--line); background: #fff; }
      h1 { margin: 0 0 10px; font-size: 20px; font-weight: 600; }
      form { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
      input[type=text] { flex: 1 1 380px; padding: 9px 12px; font-size: 16px; border: 1px solid var(--line); border-radius: 8px; }
      button, .upload { padding: 9px 16px; font-size: 15px; border: 1px solid var(--accent); border-radius: 8px;
                        background: var(--accent); color: #fff; cursor: pointer; }
      .upload { background: #fff; color: var(--accent); }
      label.toggle { display: flex; gap: 6px; align-items: center; color: var(--muted); }
      #drop { margin-top: 10px; padding: 10px; border: 2px dashed var(--line); border-radius: 8px; color: var(--muted); text-align: center; }
      #drop.over { border-color: var(--accent); color: var(--accent); background: #eef5fc; }
      #status { padding: 8px 24px; color: var(--muted); min-height: 1.4em; }
      #status.error { color: #b00020; }
      #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 16px; padding: 8px 24px 24px; }
      .card { background: #fff; border: 1px solid var(--line); border-radius: 10px; overflow: hidden; display: flex; flex-direction: column; }
      .card img { width: 100%; aspect-ratio: 1; object-fit: cover; background: #eee; image-rendering: pixelated; }
      .card .body { padding: 8px 10px 10px; display: flex; flex-direction: column; gap: 4px; flex: 1; }
      .title { font-weight: 600; font-size: 14px; }
      .meta { color: var(--muted); font-size: 12px; }
      .card button { margin-top: auto; padding: 5px 8px; font-size: 13px; background: #fff; color: var(--accent); }
    </style>
    </head>
    <body>
    <header>
      <h1>FashionVL search</h1>
      <form id="search">
        <input id="q" type="text" placeholder="Describe a product, e.g. red leather jacket" autocomplete="off" autofocus>
        <button type="submit">Search</button>
        <label class="upload">Search by image<input id="file" type="file" accept="image/png,image/jpeg" hidden></label>
        <label class="toggle"><input id="rerank" type="checkbox"> re-rank (ITM)</label>
        <label class="toggle"><input id="totext" type="checkbox"> image → text</label>
      </form>
      <div id="drop">or drop a JPEG or PNG here</div>
    </header>
    <div id="status"></div>
    <main id="grid"></main>
    <script>
    const $ = (id) => document.getElementById(id);
    const status = (text, error) => { $("status").textContent = text; $("status").className = error ? "error" : ""; };

    async function call(url, options) {
      const response = await fetch(url, options);
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
      return body;
    }

    function show(label, data) {
      const grid = $("grid");
      grid.replaceChildren();
      status(`${label}: ${data.results.length} results in ${data.milliseconds.toFixed(1)} ms` + (data.reranked ? " (re-ranked by ITM)" : ""));
      for (const hit of data.results) {
        const card = document.createElement("div");
        card.className = "card";
        const img = document.createElement("img");
        img.src = hit.image; img.alt = hit.title; img.loading = "lazy";
        const body = document.createElement("div");
        body.className = "body";
        const title = document.createElement("div");
        title.className = "title"; title.textContent = hit.title;
        const meta = document.createElement("div");
        meta.className = "meta";
        meta.textContent = `${hit.category} · #${hit.id} · ITC ${hit.itc_score.toFixed(3)}` +
          (hit.itm_score == null ? "" : ` · ITM ${hit.itm_score.toFixed(3)}`);
        const more = document.createElement("button");
        more.textContent = "More like this";
        more.onclick = () => similar(hit.id, hit.title);
        body.append(title, meta, more);
        card.append(img, body);
        grid.append(card);
      }
    }

    async function searchText() {
      const query = $("q").value.trim();
      if (!query) { status("Type a query first.", true); return; }
      status("Searching…");
      try {
        const data = await call("/search/text", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ query, k: 24, rerank: $("rerank").checked, rerank_k: 20 }) });
        show(`“${query}”`, data);
      } catch (e) { status(e.message, true); }
    }

    async function searchImage(file) {
      if (!file) return;
      status(`Searching by ${file.name}…`);
      try {
        const toText = $("totext").checked;
        const url = "/search/image?k=24" + (toText ? "&target=text" + ($("rerank").checked ? "&rerank_k=20" : "") : "");
        const data = await call(url, { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
        show(`Image ${file.name}` + (toText ? " → texts" : ""), data);
      } catch (e) { status(e.message, true); }
    }

    async function similar(id, title) {
      status("Finding similar items…");
      try { show(`More like “${title}”`, await call(`/items/${id}/similar?k=24`)); } catch (e) { status(e.message, true); }
    }

    $("search").addEventListener("submit", (e) => { e.preventDefault(); searchText(); });
    $("file").addEventListener("change", (e) => searchImage(e.target.files[0]));
    const drop = $("drop");
    ["dragenter", "dragover"].forEach((t) => document.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => document.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    document.addEventListener("drop", (e) => searchImage(e.dataTransfer.files[0]));
    // Links: ?q=TEXT (&rerank=1) runs a text query, ?similar=ID shows "more like this" of a product, ?drop=PATH
    // (this server's) drops that image on the page as a file, through the drag-and-drop handler (&totext=1: image → text).
    const params = new URLSearchParams(location.search);
    $("rerank").checked = params.get("rerank") === "1";
    $("totext").checked = params.get("totext") === "1";
    const dropPath = params.get("drop") || "";
    if (params.get("q")) { $("q").value = params.get("q"); searchText(); }
    else if (params.get("similar")) { similar(params.get("similar"), "#" + params.get("similar")); }
    else if (dropPath.startsWith("/") && !dropPath.startsWith("//")) {
      fetch(dropPath).then((r) => r.blob()).then((blob) => {
        const data = new DataTransfer();
        data.items.add(new File([blob], "dropped.png", { type: blob.type || "image/png" }));
        document.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      });
    }
    </script>
    </body>
    </html>
    """#
}
