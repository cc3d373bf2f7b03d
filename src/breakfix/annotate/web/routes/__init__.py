"""The annotation app's routes, one router per job (log-in, rating, owner views, adjudication,
project management, exports, the JSON API); :func:`~breakfix.annotate.web.app.create_app` mounts them."""
