from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# The Django admin's login goes through allauth, so allauth's rate limits (and MFA) apply there too.
admin.autodiscover()
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Smile loyalty lists — operators"

handler404 = "loyalty_lists.web.views.errors.page_not_found"
handler500 = "loyalty_lists.web.views.errors.server_error"

urlpatterns = [
    path("", include("loyalty_lists.ops.urls")),  # /healthz, /readyz, /metrics, /admin/fleet/ (before admin/)
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("integrations/smile/", include("integrations.smile.urls")),
    path("api/", include("loyalty_lists.api.urls")),
    path("", include("loyalty_lists.outbound.urls")),
    path("", include("loyalty_lists.web.urls")),
]
