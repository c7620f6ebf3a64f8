"""The one list envelope of every API list (REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]).

Its own module: DRF imports the pagination class while rest_framework.generics loads,
so it must not import the views."""

import re

from rest_framework import exceptions, pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """The one list envelope of every API list, {count, next, previous, results}: DRF's
    page-number pagination, strict about the page number as the schema states it (a whole
    number from 1; anything else is 400 naming `page`, a page past the last is 404)."""

    last_page_strings = ()

    def get_page_number(self, request, paginator):
        value = request.query_params.get(self.page_query_param)
        if value is None:
            return 1
        if not re.fullmatch(r"[1-9][0-9]{0,8}", value):
            raise exceptions.ValidationError(
                {self.page_query_param: ["A page number is a whole number from 1."]}
            )
        return int(value)

    def get_paginated_response_schema(self, schema):
        envelope = super().get_paginated_response_schema(schema)
        envelope["required"] = ["count", "next", "previous", "results"]
        return envelope

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1, maximum=999_999_999)
        return parameters
