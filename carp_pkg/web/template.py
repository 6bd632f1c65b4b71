"""The one template of the status page, shared by pfSense's carp_status.php and `carp-pkg serve`.

FRAGMENT is the page body both show (pfSense embeds it inside its own head.inc/foot.inc; serve
wraps it in PAGE). Only Bootstrap 3 classes pfSense's theme defines are used, plus `carp-*` hooks.
Placeholders are `$name`; every value is escaped by markup.render unless the renderer built it.
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
$refresh_meta
<title>$title</title>
<style>$css</style>
</head>
<body class="carp-serve">
<nav class="navbar"><div class="container"><span class="navbar-brand">carp<span>-</span>pkg</span><span class="navbar-text">$hostname</span></div></nav>
<div class="container">
<div class="header"><ol class="breadcrumb"><li>Status</li><li>CARP</li></ol></div>
$fragment
</div>
<footer class="footer"><div class="container">carp-pkg $version &middot; read-only view of $hostname &middot; generated $generated &middot;
<a href="/status.json">status.json</a> &middot; <a href="/check.json">check.json</a> &middot; <a href="/metrics">metrics</a> &middot; <a href="/healthz">healthz</a>$events_link</div></footer>
</body>
</html>
"""

REFRESH_META = """<meta http-equiv="refresh" content="$seconds; url=$url">"""

FRAGMENT = """<div class="carp-pkg" id="carp-pkg-status" data-flavour="$flavour">
$body_refresh_meta$form_open
$banners
<div class="carp-toolbar">$actions$refresh_toggle</div>
$form_close
$overview
$vhids
$pfsync
$drift
$events
</div>
"""

FORM_OPEN = """<form action="$action" method="post" class="carp-actions">"""
FORM_CLOSE = """</form>"""

BANNER = """<div class="alert alert-$level carp-banner" id="carp-banner-$name" role="alert">
<strong>$title</strong> $detail
<p class="carp-todo"><strong>What to do:</strong> $todo</p>$button
</div>"""

BUTTON = """<button type="submit" name="action" value="$value" class="btn btn-$style">$label</button>"""

REFRESH_TOGGLE = """<div class="btn-group carp-refresh" role="group" aria-label="Auto-refresh">\
<span class="text-muted">Auto-refresh&nbsp;</span>\
<a class="btn btn-default btn-sm$off_active" id="carp-refresh-off" href="$off_url" aria-pressed="$off_pressed">Off</a>\
<a class="btn btn-default btn-sm$on_active" id="carp-refresh-on" href="$on_url" aria-pressed="$on_pressed">Every 5 s</a>\
</div>"""

PANEL = """<div class="panel panel-default" id="$panel_id">
<div class="panel-heading"><h2 class="panel-title">$title</h2>$heading_extra</div>
<div class="panel-body">
$body
</div>
</div>"""

CONTENT = """<div class="content $css_class">$text</div>"""

TABLE = """<div class="table-responsive"><table class="table table-striped table-hover table-condensed">
<thead><tr>$head</tr></thead>
<tbody>
$rows
</tbody>
</table></div>"""

PROPERTIES = """<div class="table-responsive"><table class="table table-condensed carp-properties">
<thead><tr>$head</tr></thead>
<tbody><tr>$cells</tr></tbody>
</table></div>"""

PROPERTY = """<td id="$cell_id" class="$css_class">$value</td>"""

TH = """<th>$text</th>"""

EMPTY_ROW = """<tr><td colspan="$span" class="text-muted">$text</td></tr>"""

VHID_ROW = """<tr class="carp-vhid" data-interface="$device" data-vhid="$vhid">\
<td class="carp-interface">$interface</td><td>$vhid</td><td class="carp-vips">$addresses</td>\
<td class="carp-state $state_class" data-state="$state">$icon$state</td><td>$advbase</td><td>$advskew</td>$peer_cell</tr>"""

FRIENDLY = """$name <small class="carp-device">($device)</small>"""

FINDING_ROW = """<tr class="carp-finding $row_class" data-severity="$severity">\
<td><span class="label label-$label">$severity</span></td><td class="carp-where">$where</td><td>$attribute</td>\
<td>$expected</td><td>$actual</td><td>$message</td></tr>"""

EVENT_ROW = """<tr class="carp-event"><td>$time</td><td>$interface</td><td>$vhid</td>\
<td><span class="$previous_class">$previous</span> &rarr; <span class="carp-state $state_class">$icon$state</span></td>\
<td>$vips</td><td>$backend</td></tr>"""

LABEL = """<span class="label label-$style carp-check-status">$text</span>"""

# Icons pfSense draws with Font Awesome (play-circle, pause-circle, question-circle, times-circle), as
# inline SVG: no font to load, and nothing a Content-Security-Policy of default-src 'none' refuses.
_SVG = ('<svg class="carp-icon carp-icon-{name}" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" '
        'focusable="false"><circle cx="8" cy="8" r="7.5" fill="currentColor"/>{inner}</svg>')
ICONS = {
    "play": _SVG.format(name="play", inner='<path d="M6 4.5v7l5.5-3.5z" fill="#fff"/>'),
    "pause": _SVG.format(name="pause", inner='<rect x="5" y="4.5" width="2" height="7" fill="#fff"/>'
                                             '<rect x="9" y="4.5" width="2" height="7" fill="#fff"/>'),
    "question": _SVG.format(name="question", inner='<path d="M6 6.2a2 2 0 1 1 2.9 1.8c-.6.3-.9.7-.9 1.3v.6" '
                                                   'stroke="#fff" stroke-width="1.6" fill="none"/>'
                                                   '<circle cx="8" cy="11.7" r="1" fill="#fff"/>'),
    "times": _SVG.format(name="times", inner='<path d="M5.3 5.3l5.4 5.4M10.7 5.3l-5.4 5.4" stroke="#fff" '
                                             'stroke-width="1.8"/>'),
}
