"""The read-only status page (`carp-pkg serve`) and the pfSense page's body, from one template.

- markup.py: the tiny renderer: string.Template with every value HTML-escaped unless it is `Html`;
- template.py + style.py: the one template (page shell, panels, rows, icons) and the pfSense-look CSS;
- page.py: pure functions from `status --json` / `check --json` documents and events to HTML;
- events.py: the event log (ROOT/var/db/carp-pkg/events.jsonl) read bounded, every field hostile;
- snapshot.py: the one place that reads the host (through the command-line Context), cached;
- server.py: the hardened, read-only, threaded http.server.
"""
