// The report's stylesheet, inlined into the HTML (system fonts only, nothing fetched).

extension ReportBuilder {
    static let css = """
    :root { --ink:#1f2430; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --accent:#2563eb; --ours:#eef4ff; --ok:#15803d; }
    * { box-sizing: border-box; }
    html { scroll-behavior: smooth; scroll-padding-top: 64px; }
    body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, "DejaVu Sans", sans-serif;
           color:var(--ink); background:var(--bg); }
    header { padding:28px 40px 14px; background:#fff; }
    h1 { margin:0; font-size:26px; letter-spacing:-0.01em; }
    .sub { margin:2px 0 0; color:var(--muted); font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:13px; }
    nav { position:sticky; top:0; z-index:10; display:flex; flex-wrap:wrap; gap:4px; padding:8px 36px;
          background:rgba(255,255,255,.96); border-bottom:1px solid var(--line); box-shadow:0 1px 3px rgba(16,24,40,.05); }
    nav a { color:var(--ink); text-decoration:none; font-size:13px; padding:5px 10px; border-radius:6px; }
    nav a:hover { background:#eef2f7; color:var(--accent); }
    main { max-width:1180px; margin:0 auto; padding:8px 40px 40px; }
    section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:6px 24px 20px; margin:18px 0; }
    h2 { font-size:19px; margin:16px 0 12px; }
    h3 { font-size:15px; margin:18px 0 8px; color:#344054; }
    code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size:12.5px; }
    pre { background:#f5f7fa; border:1px solid var(--line); border-radius:8px; padding:12px 14px; overflow:auto; max-height:420px; margin:8px 0 0; }
    summary { cursor:pointer; color:var(--muted); font-size:13px; }
    .cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(170px, 1fr)); gap:12px; }
    .card { border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
    .card .k { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); }
    .card .v { font-size:24px; font-weight:600; font-variant-numeric: tabular-nums; }
    .card .d { font-size:12px; color:var(--muted); }
    .charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(480px, 1fr)); gap:14px; }
    svg.chart { width:100%; height:auto; border:1px solid var(--line); border-radius:8px; background:#fff; }
    svg .ct { font-size:13px; font-weight:600; fill:var(--ink); }
    svg .tk { font-size:10.5px; fill:var(--muted); font-variant-numeric: tabular-nums; }
    svg .cl { font-size:11.5px; fill:#475467; }
    svg .lg { font-size:11px; fill:#344054; }
    svg .grid { stroke:#eef0f3; stroke-width:1; }
    svg .axis { stroke:#98a2b3; stroke-width:1; }
    table { border-collapse:collapse; width:100%; font-size:13.5px; margin:6px 0; }
    th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
    thead th { background:#f8fafc; font-weight:600; color:#344054; text-align:center; border-bottom:2px solid #d0d5dd; }
    thead th[rowspan] { text-align:left; vertical-align:bottom; }
    td.num { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
    tr.group td { background:#fafbfc; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; padding-top:10px; }
    tr.group.ours td { color:var(--accent); }
    tr.ref td { color:#475467; }
    tr.chance td { color:#98a2b3; font-style:italic; }
    tr.ours td { background:var(--ours); font-weight:600; }
    table.small { width:auto; }
    table.results caption { caption-side:top; text-align:left; font-size:12.5px; color:var(--muted); padding:2px 0 6px; }
    .src { display:block; font-size:11px; color:var(--muted); font-weight:400; }
    .pm { display:block; font-size:11px; color:var(--muted); font-weight:400; }
    .tag { font-size:11px; font-weight:500; padding:1px 6px; border-radius:4px; background:#dbe6ff; color:#1e40af; }
    .note { color:var(--muted); font-size:12.5px; }
    .notrun { color:#98a2b3; font-style:italic; }
    .error { color:#b42318; }
    .warn { background:#fff7e6; border:1px solid #fcd9a5; color:#8a4b08; padding:8px 12px; border-radius:8px; font-size:13px; }
    dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:3px 18px; font-size:13px; margin:6px 0; }
    dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; font-variant-numeric: tabular-nums; }
    ul.notes { font-size:12.5px; color:#475467; }
    .example { display:grid; grid-template-columns:230px 1fr; gap:16px; padding:12px 0; border-top:1px solid var(--line); }
    .example .dir { font-size:12px; color:var(--muted); margin-bottom:6px; }
    blockquote { margin:0; padding:8px 10px; background:#f5f7fa; border-left:3px solid var(--accent); font-size:13px; border-radius:4px; }
    ol.cands { align-items:start; list-style:none; margin:0; padding:0; display:grid; grid-template-columns:repeat(5, 1fr); gap:10px; }
    ol.cands li { border:2px solid var(--line); border-radius:8px; padding:6px; background:#fff; }
    ol.cands li.hit { border-color:var(--ok); background:#f0fdf4; }
    .rank { font-size:12px; font-weight:600; color:#475467; } li.hit .rank { color:var(--ok); }
    .score { font-size:11px; color:var(--muted); font-variant-numeric: tabular-nums; }
    .ctext { font-size:12px; margin:4px 0; max-height:7.5em; overflow:hidden; }
    img.thumb { width:100%; height:auto; border-radius:4px; display:block; image-rendering:auto; }
    .figs { display:flex; flex-wrap:wrap; gap:16px; }
    figure { margin:8px 0; } figcaption { font-size:12px; color:var(--muted); margin-top:4px; }
    img.mig { width:560px; max-width:100%; height:auto; image-rendering:pixelated; border:1px solid var(--line); border-radius:6px; }
    thead th.num { text-align:right; }
    img.cm { max-width:100%; height:auto; image-rendering:pixelated; border:1px solid var(--line); border-radius:6px; }
    .missing-img { font-size:12px; color:#b42318; padding:20px 6px; background:#fef3f2; border-radius:4px; }
    footer { text-align:center; color:var(--muted); font-size:12px; padding:10px 0 30px; }
    """
}
