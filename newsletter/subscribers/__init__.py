"""Subscribers: life cycle (subscribe, confirm, preferences, pause, unsubscribe,
suppress, revoke; ``lifecycle``), signed tokens (``tokens``), region-bound confirmation
links (``confirm_links``) and the subscribe form's limits (``limits``). May import
``db``; knows nothing of editions or sending.
"""
