"""Serving a recommender to people: the conversation logic, the web app and its session store.

* :mod:`textrec.serve.session` -- one conversation, the pickers (slot-filler, saved recommender);
* :mod:`textrec.serve.images` -- item pictures by id (catalog images or a generated placeholder);
* :mod:`textrec.serve.store` -- server-side sessions: unguessable ids, expiry, bounded in number;
* :mod:`textrec.serve.app` -- the FastAPI app (JSON API + one static page).
"""
