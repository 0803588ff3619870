from __future__ import annotations

from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery and progress"

    def ready(self) -> None:
        # Nothing a visitor did is lost at sign-in: their lessons done, quiz attempts and requested courses join
        # the account. accounts sits below delivery, so delivery listens for the sign-in rather than being called.
        from django.contrib.auth.signals import user_logged_in

        from delivery.learning.visitor import visitor_work_carry_on_sign_in

        user_logged_in.connect(visitor_work_carry_on_sign_in, dispatch_uid="delivery-visitor-work-carry")
