def current_merchant(request):
    return {"current_merchant": getattr(request, "merchant", None)}
