"""``lab serve``: finished runs as a web service and a web page (FastAPI on uvicorn, the ``serve`` extra).

:mod:`lab.serve.runs` opens each run through its task's ``serve.py`` and answers in plain data;
:mod:`lab.serve.app` is the HTTP face (endpoints, bounds, errors, the token, the page in ``static/``).
"""
