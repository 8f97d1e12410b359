from allauth.account.adapter import DefaultAccountAdapter


class StaffOnlyAccountAdapter(DefaultAccountAdapter):
    """Staff accounts are created by operators (``demo_setup``, Django admin); nobody signs up."""

    def is_open_for_signup(self, request):
        return False
