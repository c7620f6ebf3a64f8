"""The trials API routes, included under /api/v1/trials/ in the "api" namespace (names prefixed trials_)."""

urlpatterns: list = []
