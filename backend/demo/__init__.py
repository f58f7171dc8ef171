"""``psychograph demo``: the whole product on one machine, with no token and no set-up.

run.py runs it, respondents.py is Telegram's side (the sandbox and the simulated respondents, in
a child process), report.py is what it prints.
"""

#: The bundled questionnaire the simulated respondents take unless told otherwise.
DEFAULT_QUESTIONNAIRE = "values-attitudes"
