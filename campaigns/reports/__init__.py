"""Reports: the year's publicity section as an official document (GB/T 9704 .docx and PDF).

It sits between delivery (which will send a report) and summaries (whose stored final
figures a report gathers). The flow of one report, top to bottom:

- `year` — the year's campaigns gathered: each reported one by its newest final summary,
  the others by their live figures (marked), planned and cancelled ones as such; last
  year's totals; user text cleaned of control characters once, for every writer.
- `section` — the section drafted from them (Chinese or English): heading, lead sentence
  with the year's totals, 一是…二是… per campaign or group in date order, figures by
  `summaries.numerals`, comparisons with last year, closing sentence, notes, 附件 table;
  `YearReport` is the whole document as data.
- `render` — the entry points (`render_year_report(year, session=…, fmt=…) -> bytes`) and
  the plain formats: text, Markdown, HTML (escaped), JSON.
- `gbt9704` — the .docx in the GB/T 9704-2012 layout (python-docx): A4, 37/35/28/26 mm,
  22 × 28, named 公文 fonts in every East-Asian slot, odd/even page numbers, 署名 and 成文日期.
- `pdf` — the same document typeset by Typst with the Noto SC fonts embedded.
- `campaign_sheet` — one campaign's 成果统计 in the same layout (`gbt9704.GbtDocument`):
  title, the summary's narrative, the exact figures' table, signature and date, fitted to
  one page; the summary email attaches it for a final summary.
- `versions` — the versions of the year's report as sent: compiled when due, again only
  when a correction changes what it says, with what changed.
"""
