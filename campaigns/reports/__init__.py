"""Reports: the year's publicity section as an official document (GB/T 9704 .docx and PDF).

Empty until the year's-report issue lands; it sits between delivery (which sends a report)
and summaries (whose stored figures a report gathers), so the layers contract already
keeps its place in the flow.
"""
