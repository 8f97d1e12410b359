from django.shortcuts import render

from loyalty_lists.merchants.scoping import merchant_required


@merchant_required
def home(request):
    return render(request, "web/home.html", {})
