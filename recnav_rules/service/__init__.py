"""The decision service and policy explorer: ``recnav-rules serve`` (the optional ``service`` extra).

A Starlette application served by uvicorn. ``/v1/...`` is the JSON API (OpenAPI document at
``/openapi.json``); ``/`` is the policy explorer, server-rendered HTML for policy owners and
auditors. Build the application with ``recnav_rules.service.app.create_app(ServiceConfig(...))``.

This package's ``__init__`` imports nothing heavy: the command line lists ``serve`` even where
the extra is not installed, and says so when it is run.
"""
