"""Sheets: import files read and checked, every bad cell named by file, sheet, row and column.

- `reader` — the entry: `read_tally_file`, its `ImportReport` (per sheet: `SheetReport`;
  skipped sheets, warnings, 合计 mismatches) and `open_sheets`.
- `csv_text` — a CSV file's text: encoding (UTF-8, BOM, GB18030) and blocks of whole lines.
- `workbooks` — the sheets of an .xlsx, .xls or .ods file, read as values with calamine.
- `headers` — finding a sheet's header (long or wide layout) and mapping its columns.
- `metric_headers` — a wide header cell to its metric and unit (发放宣传资料（份）, 经费（万元）).
- `sheet_lines` — the lines of a 统计表 that are not data: 填报单位, 合计/小计 rows, footers.
- `cells` — cells as the readers hand them on; blank and shown forms, column letters.
- `cell_values` — one cell to one field's value, or the reason it is wrong.
- `rows` — `RowChecker`: a long table's rows into accepted rows and row errors.
- `wide` — `WideRowChecker`: a wide sheet's activities into tallies; 合计 rows checked.
- `accepted` — the accepted rows, held as columns (a row's 单位 text as written), with their
  derived keys.
- `import_errors` — what can be wrong: the file as a whole, or one cell.
- `rejects` — the rejects file for field staff to fix, formulas neutralised.
- `unit_list` — a file of reporting units (编码, 名称, 上级, 联系方式) for `campaigns units
  import`.
"""
