"""The REST API: thin views over the same selectors and services the pages call.

Everything under `/me/` is the signed-in user's own data, looked up through that user, so
another user's row is simply "not found" (404), never "forbidden".
"""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from explanations.profile import Filters, Profile
from webapp.api import serializers as s
from webapp.api.authentication import token_expired
from webapp.api.errors import Conflict, NotReady, field_error
from webapp.api.throttles import AnonThrottle, UserThrottle
from webapp.catalogue import selectors as catalogue_selectors
from webapp.catalogue import services as catalogue_services
from webapp.catalogue.models import Interaction, Item
from webapp.jobs.models import JobRun
from webapp.privacy.services import personal_data_json
from webapp.profiles import selectors as profile_selectors
from webapp.profiles import services as profile_services
from webapp.profiles.models import ProfileVersion, Reason
from webapp.profiles.tasks import profile_generate_enqueue
from webapp.ranking import selectors as ranking_selectors
from webapp.steering import selectors as steering_selectors
from webapp.steering import services as steering_services
from webapp.steering.models import Conversation

LLM = "llm"  # throttle scope of endpoints that make a model work (API_LLM_THROTTLE)
EDIT = "edit"  # ... and of those that write: the profile, interactions, the chat (EDIT_RATE)
NO_BODY = OpenApiResponse(description="Done; no body.")


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validated query parameters (a bad one is a 400 that names it). An empty value
    (``?limit=``) is refused where the field takes no blank: DRF would read it as absent."""
    query = serializer_class(data=request.query_params)
    blank = {
        name: ["Give a value, or leave the parameter out."]
        for name, field in query.fields.items()
        if request.query_params.get(name) == "" and not getattr(field, "allow_blank", False)
    }
    if blank:
        raise serializers.ValidationError(blank)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


def _body(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


# -- auth -----------------------------------------------------------------------------------


@extend_schema(tags=["auth"])
class TokenView(ObtainAuthToken):  # django-axes counts its failures like the login form's
    """POST username + password for a token; DELETE (authenticated) revokes it."""

    throttle_classes = [AnonThrottle, UserThrottle]  # guessing passwords counts too
    renderer_classes = [JSONRenderer]

    def get_permissions(self) -> list[BasePermission]:
        return [IsAuthenticated()] if self.request.method == "DELETE" else [AllowAny()]

    @extend_schema(
        request=AuthTokenSerializer,
        responses={200: s.TokenSerializer, 400: OpenApiTypes.OBJECT, 429: OpenApiTypes.OBJECT},
        auth=[],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your API token (the same one on every call until revoked), for
        `Authorization: Token <key>`; it expires after API_TOKEN_DAYS (30) days, and a POST
        then gives a new one. 429 after too many wrong passwords from one address."""
        body = request.data if isinstance(request.data, dict) else {}  # a JSON list: 400 below
        username = str(body.get("username", ""))[:150]
        if AxesProxyHandler.is_locked(request._request, {"username": username}):
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            return Response(
                {"detail": f"Too many failed logins; try again in {minutes} minutes."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        existing = Token.objects.filter(user=user).first()
        if existing is not None and token_expired(existing):
            existing.delete()  # an expired key is never handed out again
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: NO_BODY})
    def delete(self, request: Request) -> Response:
        """Revoke your token; the next POST makes a new one."""
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- catalogue ------------------------------------------------------------------------------


@extend_schema(tags=["catalogue"], parameters=[s.ItemListQuerySerializer])
class ItemListView(generics.ListAPIView):
    """Active items, most interacted first; every word of `q` must be in the title."""

    permission_classes = [AllowAny]
    serializer_class = s.ItemSerializer

    def get_queryset(self) -> QuerySet[Item]:
        query = _query(s.ItemListQuerySerializer, self.request)
        return catalogue_selectors.item_list(query=query["q"].strip(), genre=query["genre"].strip())


@extend_schema(tags=["catalogue"])
class ItemDetailView(generics.RetrieveAPIView):
    """One item (retired ones too, as on its page) with what you did with it."""

    permission_classes = [AllowAny]
    serializer_class = s.ItemDetailSerializer
    queryset = Item.objects.prefetch_related("genres")


@extend_schema(tags=["catalogue"])
class GenreListView(generics.ListAPIView):
    """Genres that have active items (the values `genre` filters on)."""

    permission_classes = [AllowAny]
    serializer_class = s.GenreSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Any]:
        return catalogue_selectors.genre_list()


# -- my recommendations ---------------------------------------------------------------------


@extend_schema(tags=["recommendations"])
class RecommendationsView(APIView):
    """The home page's list: your precomputed list re-ranked by your current profile, each
    entry with its score components, explanation and the evidence it was written from."""

    @extend_schema(
        parameters=[s.RecommendationQuerySerializer], responses=s.RecommendationListSerializer
    )
    def get(self, request: Request) -> Response:
        limit = _query(s.RecommendationQuerySerializer, request)["limit"]
        ranking = ranking_selectors.ranking_for(user=request.user, limit=limit)
        entries = [{**e, "rank": n} for n, e in enumerate(ranking.entries, start=1)]
        data = {
            "model_version": ranking.model_version,
            "fingerprint": ranking.fingerprint,
            "vectors_ready": ranking.vectors_ready,
            "entries": entries,
            "sections": [
                {"heading": row["heading"], "ranks": [e["rank"] for e in row["entries"]]}
                for row in ranking_selectors.sections(entries)
            ],
        }
        return Response(s.RecommendationListSerializer(data).data)


# -- my profile -----------------------------------------------------------------------------


def _profile(user: Any) -> dict[str, Any]:
    """The current version, or an empty "version 0" for a user without a profile."""
    version = profile_selectors.current_version(user=user)
    if version is None:
        empty = Profile()
        version = ProfileVersion(
            user=user, number=0, profile=empty.to_dict(), fingerprint=empty.fingerprint
        )
    return s.ProfileSerializer(version).data


@extend_schema(tags=["profile"])
class ProfileView(APIView):
    """Your natural-language profile: statements (what re-ranks your list) and filters."""

    throttle_scope = EDIT

    @extend_schema(responses=s.ProfileSerializer)
    def get(self, request: Request) -> Response:
        return Response(_profile(request.user))

    @extend_schema(request=s.ProfileReplaceSerializer, responses=s.ProfileSerializer)
    def put(self, request: Request) -> Response:
        """Replace the whole statement list (one new version); filters stay as they are."""
        body = _body(s.ProfileReplaceSerializer, request)
        try:
            profile_services.profile_replace(
                user=request.user, by=request.user, statements=body["statements"]
            )
        except KeyError as exc:
            message = f"No statement {exc.args[0]} in your profile."
            raise field_error("statements", message) from None
        except ValueError as exc:
            raise field_error("statements", exc) from exc
        return Response(_profile(request.user))


@extend_schema(tags=["profile"])
class FiltersView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=s.FiltersWriteSerializer, responses=s.ProfileSerializer)
    def put(self, request: Request) -> Response:
        """Replace every filter at once (one new version; statements stay). Send ``{}`` to
        clear them all."""
        filters = Filters.from_dict(_body(s.FiltersWriteSerializer, request))
        profile_services.profile_edit(
            user=request.user, by=request.user, action="set_filters", filters=filters
        )
        return Response(_profile(request.user))


@extend_schema(tags=["profile"])
class StatementListView(APIView):
    throttle_scope = EDIT

    @extend_schema(
        request=s.StatementAddSerializer, responses={201: s.ProfileSerializer}, summary="Add"
    )
    def post(self, request: Request) -> Response:
        """Add a statement at the end; the response is the new profile."""
        body = _body(s.StatementAddSerializer, request)
        try:
            profile_services.profile_edit(user=request.user, by=request.user, action="add", **body)
        except ValueError as exc:
            raise field_error("text", exc) from exc
        return Response(_profile(request.user), status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["profile"], parameters=[OpenApiParameter("sid", OpenApiTypes.STR, OpenApiParameter.PATH)]
)
class StatementDetailView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=s.StatementPatchSerializer, responses=s.ProfileSerializer)
    def patch(self, request: Request, sid: str) -> Response:
        """Change any of text, polarity, weight, pinned of one statement (one version);
        an empty body changes nothing and writes no version."""
        body = _body(s.StatementPatchSerializer, request)
        if not body:
            profile = profile_selectors.current_profile(user=request.user)
            if profile is None or all(st.id != sid for st in profile.statements):
                raise NotFound(f"No statement {sid} in your profile.")
            return Response(_profile(request.user))
        try:
            profile_services.statement_update(user=request.user, by=request.user, sid=sid, **body)
        except KeyError:
            raise NotFound(f"No statement {sid} in your profile.") from None
        except ValueError as exc:
            raise field_error(next(iter(body)), exc) from exc
        return Response(_profile(request.user))

    @extend_schema(responses={204: NO_BODY})
    def delete(self, request: Request, sid: str) -> Response:
        try:
            profile_services.profile_edit(
                user=request.user, by=request.user, action="delete", sid=sid
            )
        except KeyError:
            raise NotFound(f"No statement {sid} in your profile.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class _History:
    """`profile_history` as a sequence the paginator slices, so a page reads one page."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def __len__(self) -> int:
        return int(self.user.profile_versions.count())

    def __getitem__(self, page: slice) -> list[dict[str, Any]]:
        limit = page.stop - page.start
        return profile_selectors.profile_history(user=self.user, limit=limit, offset=page.start)


@extend_schema(tags=["profile"])
class VersionListView(generics.ListAPIView):
    """Every version of your profile, newest first, each with its diff from the one before."""

    serializer_class = s.HistoryEntrySerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(_History(request.user))  # type: ignore[arg-type]
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema(tags=["profile"])
class VersionRevertView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=None, responses=s.ProfileSerializer)
    def post(self, request: Request, number: int) -> Response:
        """Make version `number` current again (as a new version: history is kept)."""
        get_object_or_404(ProfileVersion, user=request.user, number=number)
        profile_services.profile_revert(user=request.user, by=request.user, number=number)
        return Response(_profile(request.user))


@extend_schema(tags=["profile"])
class RegenerateView(APIView):
    throttle_scope = LLM

    @extend_schema(request=None, responses={202: s.JobSerializer, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        """Rewrite the profile from your history with the LLM, in the background (pinned
        statements and filters stay). Poll the job until its state is succeeded. 409 when
        there is no history to learn from yet (nothing is queued)."""
        try:  # the page's service: it refuses at once rather than queue a job bound to fail
            job = profile_generate_enqueue(user=request.user)
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["profile"])
class JobDetailView(generics.RetrieveAPIView):
    """A background job you started (e.g. a profile regeneration)."""

    serializer_class = s.JobSerializer

    def get_queryset(self) -> QuerySet[JobRun]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return JobRun.objects.none()
        return JobRun.objects.filter(requested_by=self.request.user)


# -- my interactions ------------------------------------------------------------------------


@extend_schema(tags=["interactions"])
@extend_schema_view(get=extend_schema(parameters=[s.InteractionListQuerySerializer]))
class InteractionListView(generics.ListAPIView):
    """Your likes, dislikes and ratings, newest first."""

    serializer_class = s.InteractionSerializer
    throttle_scope = EDIT  # writes only: reading the list is not counted

    def get_queryset(self) -> QuerySet[Interaction]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Interaction.objects.none()
        history = catalogue_selectors.user_history(user=self.request.user)
        kind = _query(s.InteractionListQuerySerializer, self.request).get("kind")
        return history.filter(kind=kind) if kind else history

    @extend_schema(
        request=s.InteractionWriteSerializer,
        responses={201: s.InteractionSerializer, 200: s.InteractionSerializer},
    )
    def post(self, request: Request) -> Response:
        """Like, dislike or rate an item (201), or change it (200). Idempotent: a like
        replaces a dislike of the same item and vice versa."""
        body = _body(s.InteractionWriteSerializer, request)
        try:
            interaction, created = catalogue_services.interaction_set(user=request.user, **body)
        except DjangoValidationError as exc:
            raise field_error("value", " ".join(exc.messages)) from exc
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.InteractionSerializer(interaction).data, status=code)


@extend_schema(tags=["interactions"])
class InteractionDetailView(generics.RetrieveAPIView):
    serializer_class = s.InteractionSerializer
    throttle_scope = EDIT

    def get_queryset(self) -> QuerySet[Interaction]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Interaction.objects.none()
        return catalogue_selectors.user_history(user=self.request.user)

    @extend_schema(responses={204: NO_BODY})
    def delete(self, request: Request, pk: int) -> Response:
        try:
            catalogue_services.interaction_delete(user=request.user, pk=pk)
        except Interaction.DoesNotExist:
            raise NotFound(f"No interaction {pk} of yours.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- critiques ------------------------------------------------------------------------------


@extend_schema(tags=["critiques"])
class CritiqueItemView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=s.CritiqueItemSerializer, responses={201: s.VersionSerializer})
    def post(self, request: Request) -> Response:
        """More / less like this item, or not for me (with an optional reason): written
        into your profile as a critique version you can undo."""
        body = _body(s.CritiqueItemSerializer, request)
        try:
            version = profile_services.critique_item_apply(user=request.user, **body)
        except ValueError as exc:
            raise field_error("item", exc) from exc
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["critiques"])
class CritiqueListView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=s.CritiqueListSerializer, responses={201: s.VersionSerializer})
    def post(self, request: Request) -> Response:
        """Critique the whole list in words ("less violent, more comedies"); no LLM."""
        text = _body(s.CritiqueListSerializer, request)["text"]
        try:
            version = profile_services.critique_list_apply(user=request.user, text=text)
        except ValueError as exc:
            raise field_error("text", exc) from exc
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["critiques"])
class CritiqueUndoView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=None, responses={200: s.VersionSerializer, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request, number: int) -> Response:
        """Remove what critique version `number` added, keeping every later edit."""
        get_object_or_404(ProfileVersion, user=request.user, number=number, reason=Reason.CRITIQUE)
        try:
            version = profile_services.critique_undo(user=request.user, number=number)
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.VersionSerializer(version).data)


# -- conversation ---------------------------------------------------------------------------


def _conversation(user: Any) -> dict[str, Any]:
    turns, has_state = steering_selectors.conversation_turns(user=user)
    return s.ConversationSerializer({"turns": turns, "has_state": has_state}).data


@extend_schema(tags=["conversation"])
class ConversationView(APIView):
    throttle_scope = EDIT  # the reset (DELETE) is a write; reading the chat is not counted

    @extend_schema(responses=s.ConversationSerializer)
    def get(self, request: Request) -> Response:
        """The chat so far (the last 40 turns), each reply with its item cards."""
        return Response(_conversation(request.user))

    @extend_schema(responses={204: NO_BODY})
    def delete(self, request: Request) -> Response:
        """Start over: forget the turns and the wishes gathered so far."""
        steering_services.conversation_reset(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["conversation"])
class MessageView(APIView):
    throttle_scope = LLM

    @extend_schema(
        request=s.MessageSerializer,
        responses={201: s.ConversationSerializer, 503: OpenApiResponse(description="Not ready")},
    )
    def post(self, request: Request) -> Response:
        """Say something; the reply is grounded in the catalogue (it names only real items,
        returned as cards) and is the last turn of the conversation returned."""
        message = _body(s.MessageSerializer, request)["message"]
        try:
            steering_services.conversation_respond(user=request.user, message=message)
        except ValueError as exc:  # the catalogue is not embedded yet
            raise NotReady(str(exc)) from exc
        return Response(_conversation(request.user), status=status.HTTP_201_CREATED)


@extend_schema(tags=["conversation"])
class ConversationKeepView(APIView):
    throttle_scope = EDIT

    @extend_schema(request=None, responses={200: s.VersionSerializer, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        """Write the wishes from the chat into your profile (a new version)."""
        try:
            version = steering_services.conversation_promote(user=request.user)
        except Conversation.DoesNotExist:
            raise Conflict("There is no chat yet.") from None
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
        return Response(s.VersionSerializer(version).data)


# -- my data (privacy) ------------------------------------------------------------------------


@extend_schema(tags=["privacy"])
class ExportView(APIView):
    """Everything stored about you, as the privacy page's JSON download (one service)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> StreamingHttpResponse:
        """Streamed a row at a time, as the page's download is."""
        return StreamingHttpResponse(
            personal_data_json(user=request.user), content_type="application/json"
        )
