from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=N&page_size=M``; the cap keeps one request's work bounded.

    A page size that is not a whole number from 1 to the cap is a 400 that says so (DRF's
    own silently serves the default size instead, so a typo looks like missing data).
    """

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        value = given[-1]
        whole = len(given) == 1 and value.isascii() and value.isdecimal()
        if not (whole and 1 <= int(value) <= self.max_page_size):
            problem = f"Give one whole number from 1 to {self.max_page_size}."
            raise ValidationError({self.page_size_query_param: [problem]})
        return int(value)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
        return parameters
