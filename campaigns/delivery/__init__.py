"""Delivery: who receives a summary and how it reaches them, exactly once or honestly "unknown".

- `recipients` — who receives summaries: email addresses and chat-group robots.
- `deliveries` — the delivery rows seen from outside: create, due, resend, list.
- `reminders` — one reminder to each unit that has not reported, before its deadline.
- `transitions` — the state machine of one row under its claim: claim, hand-over, outcome.
- `attempts` — one attempt from claim to recorded outcome, the network outside any transaction.
- `sending` — composing and sending one message, and classifying what happened.
- `mail` — the email itself: header checks, Message-ID, the MIME message.
- `smtp` — sending over SMTP: `send_message` and its plain-text-password refusal;
  `smtp_config` (URLs, TLS modes), `smtp_session` (the dialogue, step by step),
  `smtp_wire` (addresses, dot-stuffing), `smtp_outcomes` (results and the error tree).
- `webhooks` — the one httpx client and its small exception tree; `webhook_robots` (each
  robot's message, signature and answer), `webhook_redaction` (secrets kept out of logs).
"""
