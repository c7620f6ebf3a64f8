"""The screening API routes, included under /api/v1/screening/ in the "api" namespace (names prefixed screening_)."""

urlpatterns: list = []
