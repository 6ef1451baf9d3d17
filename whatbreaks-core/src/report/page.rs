//! What every HTML page shares: its styles, its script, and escaping. Below both the report
//! pages ([`super::html`]) and their index ([`super::index`]), so neither imports the other
//! for them.

/// The styles of every page: readable at 1280 px and narrower without sideways scrolling
/// (text wraps, charts scale to their column).
pub(crate) const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:24px auto;padding:0 16px;max-width:1240px;color:#222}\
pre{background:#f6f6f6;padding:8px;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}\
h2.flagged,td.flagged{color:#b00020}h2.clean,td.clean{color:#1b5e20}\
h2 small{font-weight:normal;color:#555;font-size:14px}nav{margin-bottom:16px}\
section{min-width:0}\
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,480px),1fr));gap:24px;align-items:start}\
figure{margin:12px 0 24px;min-width:0}figcaption{font-weight:600;margin-bottom:4px;overflow-wrap:anywhere}\
svg.chart{display:block;width:100%;max-width:760px;height:auto}\
svg text{font-size:11px;fill:#333}p.none{color:#555;font-style:italic}\
table.index{border-collapse:collapse;width:100%;table-layout:fixed;font-size:13px}\
table.index th,table.index td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
col.c-scenario{width:24%}col.c-verdict{width:30%}col.c-figure{width:24%}col.c-seed{width:9%}col.c-time{width:6%}col.c-when{width:7%}\
div.source{color:#666;font-size:11px}\
ul.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:12px;font-size:12px}\
ul.legend span{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}";

/// Counts the charts the browser laid out with a non-empty plot area, and the elements wider
/// than the window, onto `<body data-charts-rendered="N" data-too-wide="M"
/// data-too-wide-first="…">`, for a headless browser's DOM dump.
pub(crate) const SCRIPT: &str = "(function(){var n=0;document.querySelectorAll('svg.chart').forEach(function(s){\
var r=s.getBoundingClientRect(),d=s.querySelector('.data');if(!d||r.width<=0||r.height<=0)return;\
var b=d.getBBox();if(b.width>0&&b.height>0&&d.querySelector('path,rect,circle,text'))n++;});\
var w=document.documentElement.clientWidth,wide=[];document.querySelectorAll('body *').forEach(function(e){\
var r=e.getBoundingClientRect();if(r.width>0&&(r.right>w+1||r.left<-1))wide.push(e.tagName.toLowerCase()+(e.id?'#'+e.id:'')+(e.className&&e.className.baseVal===undefined&&e.className?'.'+e.className:''));});\
if(document.documentElement.scrollWidth>w+1)wide.push('html (scrollWidth '+document.documentElement.scrollWidth+' > '+w+')');\
var b=document.body;b.setAttribute('data-charts-rendered',String(n));b.setAttribute('data-viewport-width',String(w));\
b.setAttribute('data-too-wide',String(wide.length));b.setAttribute('data-too-wide-first',wide.slice(0,3).join(' '));})();";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
