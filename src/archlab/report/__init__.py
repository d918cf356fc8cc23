"""The report: per-study sections built from artifacts, rendered to Markdown, LaTeX and PDF."""
