"""Delivery backends: one interface (:class:`~newsletter.delivery.base.Backend`), one module each."""
