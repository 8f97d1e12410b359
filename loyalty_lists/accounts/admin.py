from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    search_fields = ("email",)
    ordering = ("email",)
    list_display = ("email", "is_staff", "is_superuser", "last_login")
