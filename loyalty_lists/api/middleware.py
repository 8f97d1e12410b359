"""API calls skip the browser's middleware.

Most of ``settings.MIDDLEWARE`` serves people in a browser: static files, the pages' CSP, sessions, CSRF,
the signed-in user and their merchant, messages, allauth, htmx, the merchant's time zone. A call to the
JSON API authenticates with its key (``auth.py``), carries no cookies that matter and answers JSON, so
none of it applies — and running it anyway was a sixth of a lookup's CPU (figure 5's profile).

``ApiMiddleware`` sits right after ``SecurityMiddleware`` (HTTPS redirect, HSTS, nosniff, referrer and
opener policies still apply to every response) and sends a request under ``/api/`` straight to its view,
as Django's handler would (an exception goes to the same handling as any view's):

- the Host header is checked against ``ALLOWED_HOSTS`` and ``Content-Length`` is set (``CommonMiddleware``'s
  doing for pages);
- the response gets the headers a JSON API answers with: ``Content-Security-Policy: default-src 'none';
  frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, unless the view set its own.

The interactive docs (``/api/v1/docs`` and its assets) are a page: they take the full stack (the site's
CSP among others).
"""

from django.urls import URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, ResolverMatch

API_PREFIX = "/api/"
PAGES = ("/api/v1/docs",)  # under API_PREFIX, but served to browsers
MAX_MATCHES = 1024  # paths whose URL match is remembered
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._resolver = self._root = None
        self._matches: dict[str, ResolverMatch] = {}

    def __call__(self, request):
        path = request.path_info
        if not path.startswith(API_PREFIX) or path.startswith(PAGES) or hasattr(request, "urlconf"):
            return self.get_response(request)
        request.get_host()  # DisallowedHost (400) for a Host outside ALLOWED_HOSTS
        match = self.resolve(path)
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not response.streaming and "Content-Length" not in response:  # as CommonMiddleware does
            response.headers["Content-Length"] = str(len(response.content))
        return response

    def resolve(self, path: str) -> ResolverMatch:
        """``resolve(path)``, remembered: a workflow engine calls the same few paths all day, and
        resolving one costs more than the lookup's JSON rendering. At most ``MAX_MATCHES`` paths are
        kept (then it starts over); /api/ ends in a catch-all JSON 404, so every path matches."""
        resolver = self.resolver()
        match = self._matches.get(path)
        if match is None:
            match = resolver.resolve(path)
            if len(self._matches) >= MAX_MATCHES:
                self._matches = {}
            self._matches[path] = match
        return match

    def resolver(self) -> URLResolver:
        """The root URLconf cut down to its ``api/`` include (half the cost of resolving through the
        whole root; the same match, route and namespaces)."""
        root = get_resolver()  # cached by Django, renewed when ROOT_URLCONF changes
        if root is not self._root:
            (api,) = (p for p in root.url_patterns if str(p.pattern) == API_PREFIX[1:])
            self._resolver, self._root = URLResolver(RegexPattern(r"^/"), [api]), root
            self._matches = {}
        return self._resolver
