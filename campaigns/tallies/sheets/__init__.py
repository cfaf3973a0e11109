"""Sheets: import files read and checked, every bad cell named by file, row and column.

- `reader` — the entry: `read_tally_file` and its `ImportReport`.
- `csv_text` — a CSV file's text: encoding (UTF-8, BOM, GB18030) and blocks of whole lines.
- `workbooks` — the rows of an .xlsx file's first sheet, as values.
- `headers` — finding the header row and mapping columns (English or Chinese) to fields.
- `cells` — cells as the readers hand them on; blank and shown forms.
- `cell_values` — one cell to one field's value, or the reason it is wrong.
- `rows` — `RowChecker`: the data rows into accepted rows and row errors.
- `accepted` — the accepted rows, held as columns, with their derived keys.
- `import_errors` — what can be wrong: the file as a whole, or one cell.
- `rejects` — the rejects file for field staff to fix, formulas neutralised.
"""
