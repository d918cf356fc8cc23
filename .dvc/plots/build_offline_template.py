"""Write .dvc/plots/offline.html: DVC's page for `dvc plots show`, with the chart library inlined (.dvc/config's
`plots.html_template` names it, so a plain `dvc plots show` uses it).

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so offline it is blank. This page carries the
same three libraries, at the versions DVC's page names (dvc_render/vega.py), so the plots draw with no network.
To rebuild it (the npm registry, once):

    npm pack vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2      # in an empty folder
    for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
    python .dvc/plots/build_offline_template.py <that folder>

All three are BSD-3-Clause (University of Washington Interactive Data Lab); their licence is kept in the page.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

LIBRARIES = (("vega-5.20.2", "vega.min.js"), ("vega-lite-5.2.0", "vega-lite.min.js"),
             ("vega-embed-6.18.2", "vega-embed.min.js"))
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")  # what DVC fills in (dvc_render/html.py)
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>archlab: DVC plots</title>
<!-- {licence} -->
{inlined}
<style>
  body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem; }}
  table {{ border-spacing: 15px; }}
  .hint {{ color: #5f6368; font-size: 0.9rem; }}
</style>
</head>
<body>
<p class="hint">One colour per setting, one line per seed; drag to pan, scroll to zoom (a spike need not flatten the
rest); hover a point for its run and value. The chart library is inlined: this page needs no network.</p>
{plot_divs}
</body>
</html>
"""


def main(folder: str, out: str = str(Path(__file__).with_name("offline.html"))) -> None:
    scripts = []
    for package, name in LIBRARIES:
        js = (Path(folder) / package / "package" / "build" / name).read_text()
        js = re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "", js)  # no request for a source map
        if "</script" in js or any(p in js for p in PLACEHOLDERS):
            raise SystemExit(f"{name} contains '</script' or a DVC placeholder: it cannot be inlined")
        scripts.append(f"<script>/* {package} */\n{js}\n</script>")
    licence = (Path(folder) / LIBRARIES[0][0] / "package" / "LICENSE").read_text().replace("--", "- -")
    page = PAGE.format(inlined="\n".join(scripts), licence=f"vega, vega-lite, vega-embed: BSD-3-Clause.\n{licence}",
                       refresh_tag="{refresh_tag}", plot_divs="{plot_divs}")
    Path(out).write_text(page)


if __name__ == "__main__":
    main(*sys.argv[1:])
