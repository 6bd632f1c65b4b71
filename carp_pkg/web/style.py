"""The pfSense look without pfSense: the few Bootstrap 3 classes the template uses, in pfSense's colours.

On pfSense the page body sits inside pfSense's own theme (Bootstrap 3 + pfSense.css), so the template
only uses class names that theme defines. `carp-pkg serve` has no theme to sit in: it inlines this
stylesheet (no CDN, no web font; Content-Security-Policy allows exactly this text by its hash).
Colours as in pfSense.css: navbar #212121, panel headings #424242, MASTER #4CAF50, BACKUP #F57F17,
INIT/DISABLED #B71C1C, page #F5F5F5.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
*{box-sizing:border-box}
html{font-size:14px}
body{margin:0;background:#F5F5F5;color:#333;font:14px/1.43 Roboto,"Helvetica Neue",Helvetica,Arial,sans-serif}
a{color:#337AB7;text-decoration:none}
a:hover{text-decoration:underline}
h1,h2,h3{font-weight:500;margin:0}
small,.small{font-size:85%}
code{font-family:Menlo,Monaco,Consolas,"Courier New",monospace;font-size:90%;padding:1px 4px;color:#c7254e;background:#f9f2f4;border-radius:3px}
.container{max-width:1170px;margin:0 auto;padding:0 15px}
.navbar{background:#212121;min-height:50px;margin-bottom:10px}
.navbar .container{display:flex;align-items:center;justify-content:space-between;min-height:50px}
.navbar-brand{color:#fff;font-size:20px;font-weight:700;letter-spacing:1px}
.navbar-brand span{color:#B71C1C}
.navbar-text{color:#BDBDBD}
.header{background:#E0E0E0;margin:10px 0;box-shadow:0 1px 10px rgba(0,0,0,.3)}
.breadcrumb{list-style:none;margin:0;padding:8px 15px;font-size:22px}
.breadcrumb>li{display:inline}
.breadcrumb>li+li:before{content:"/";padding:0 8px;color:#B71C1C}
.panel{background:#fff;border:1px solid #ddd;margin-bottom:10px;box-shadow:0 3px 7px rgba(0,0,0,.1)}
.panel-default>.panel-heading{color:#fff;background:#424242;letter-spacing:1px;padding:5px 15px;
  display:flex;justify-content:space-between;align-items:center}
.panel-title{font-size:16px}
.panel-body{padding:0}
.content{padding:10px}
.table-responsive{overflow-x:auto}
.table{width:100%;border-collapse:collapse;border-spacing:0}
.table>thead>tr>th{text-align:left;border-bottom:2px solid #ddd;padding:6px 4px 6px 10px;white-space:nowrap}
.table>tbody>tr>td,.table>tbody>tr>th{padding:6px 4px 6px 10px;border-top:1px solid #ddd;vertical-align:top;text-align:left}
.table-striped>tbody>tr:nth-of-type(odd){background:#f9f9f9}
.table-hover>tbody>tr:hover{background:#f5f5f5}
.table>tbody>tr.danger>td{background:#f2dede}
.table>tbody>tr.warning>td{background:#fcf8e3}
.text-success{color:#4CAF50}
.text-warning{color:#F57F17}
.text-danger{color:#B71C1C}
.text-muted{color:#777}
.alert{padding:12px 15px;margin-bottom:10px;border:1px solid transparent;box-shadow:0 1px 10px rgba(0,0,0,.1)}
.alert-danger{color:#a94442;background:#f2dede;border-color:#ebccd1;border-top:5px solid #B71C1C}
.alert-warning{color:#FF6F00;background:#FFFDE7;border-color:#FFECB3;border-top:5px solid #FFD600}
.alert-info{color:#01579B;background:#E1F5FE;border-color:#B2EBF2;border-top:5px solid #01579B}
.alert-success{color:#1B5E20;background:#E8F5E9;border-color:#DCEDC8;border-top:5px solid #1B5E20}
.alert p{margin:4px 0 0}
.label{display:inline-block;padding:.2em .6em .3em;font-size:75%;font-weight:700;line-height:1;color:#fff;
  border-radius:.25em;white-space:nowrap;letter-spacing:0}
.label-danger{background:#d9534f}
.label-warning{background:#f0ad4e}
.label-success{background:#5cb85c}
.label-default{background:#777}
.btn{display:inline-block;padding:5px 10px;font-size:14px;line-height:1.43;border:1px solid transparent;
  border-radius:4px;color:#fff;cursor:pointer;font-family:inherit;margin:0 5px 5px 0}
.btn:hover{text-decoration:none;filter:brightness(.92)}
.btn-default{color:#333;background:#fff;border-color:#ccc}
.btn-default.active{background:#e6e6e6;border-color:#adadad;box-shadow:inset 0 3px 5px rgba(0,0,0,.125)}
.btn-warning{background:#f0ad4e;border-color:#eea236}
.btn-danger{background:#B71C1C;border-color:#a01818}
.btn-success{background:#43A047;border-color:#398439}
.btn-info{background:#5bc0de;border-color:#46b8da}
.btn-sm{padding:3px 8px;font-size:12px}
.btn-group{display:inline-block;margin-left:10px}
.btn-group>.btn{margin-right:0;border-radius:0}
.btn-group>.btn:first-child{border-radius:4px 0 0 4px}
.btn-group>.btn:last-child{border-radius:0 4px 4px 0}
.carp-toolbar{margin:0 0 10px;display:flex;flex-wrap:wrap;align-items:center}
.carp-toolbar .carp-refresh{margin-left:auto}
.carp-icon{width:1.1em;height:1.1em;vertical-align:-.2em;margin-right:.3em}
.carp-device{color:#777}
.carp-state{font-weight:700;white-space:nowrap}
.carp-where,.carp-interface{white-space:nowrap}
.footer{margin-top:20px;padding:12px 0;background:#212121;color:#BDBDBD;font-size:12px}
.footer a{color:#fff}
"""

CSS_SHA256 = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
