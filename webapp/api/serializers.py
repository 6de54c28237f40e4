"""The API's shapes. Serializers validate input and present output; every write goes through
a service in ``webapp/*/services.py`` (the views call them), never through ``save()`` here."""

from __future__ import annotations

import functools
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from explanations.profile import MAX_WEIGHT, POLARITIES
from webapp.catalogue import selectors as catalogue_selectors
from webapp.catalogue.models import Genre, Interaction, Item
from webapp.jobs.models import JobRun
from webapp.profiles.models import ProfileVersion

TEXT_MAX = 200  # a statement, as on the profile page (forms.StatementAddForm)


class TextField(serializers.CharField):
    """Text sent in a JSON body must be a JSON string, as the schema says: DRF's CharField
    would quietly store the number 0 as the statement "0"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


# -- catalogue ------------------------------------------------------------------------------


class ItemSerializer(serializers.ModelSerializer):
    genres = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    description = serializers.CharField(
        source="display_description", read_only=True, help_text="Curated text, else generated."
    )
    description_is_generated = serializers.BooleanField(read_only=True)
    title = serializers.CharField(
        source="display_title", read_only=True, help_text='As people write it: "The Godfather".'
    )

    class Meta:
        model = Item
        fields = [
            "id",
            "title",
            "year",
            "genres",
            "description",
            "description_is_generated",
            "is_active",
            "interaction_count",
            "mean_rating",
        ]
        read_only_fields = fields


class ItemStateSerializer(serializers.Serializer):
    liked = serializers.BooleanField()
    disliked = serializers.BooleanField()
    rating = serializers.IntegerField(allow_null=True)


class ItemDetailSerializer(ItemSerializer):
    state = serializers.SerializerMethodField(
        help_text="What you did with it (false when anonymous)."
    )

    class Meta(ItemSerializer.Meta):
        fields = [*ItemSerializer.Meta.fields, "facts", "generated_keywords", "state"]
        read_only_fields = fields

    @extend_schema_field(ItemStateSerializer)
    def get_state(self, item: Item) -> dict[str, Any]:
        return catalogue_selectors.item_state_for_user(user=self.context["request"].user, item=item)


class ItemListQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, default="", max_length=100, allow_blank=True)
    genre = serializers.CharField(required=False, default="", max_length=64, allow_blank=True)


class GenreSerializer(serializers.Serializer):
    name = serializers.CharField()


# -- interactions ---------------------------------------------------------------------------

INTERACTION_KINDS = [Interaction.Kind.LIKE, Interaction.Kind.DISLIKE, Interaction.Kind.RATING]


class InteractionSerializer(serializers.ModelSerializer):
    item = ItemSerializer(read_only=True)

    class Meta:
        model = Interaction
        fields = ["id", "item", "kind", "value", "created_at"]
        read_only_fields = fields


class InteractionWriteSerializer(serializers.Serializer):
    item = serializers.PrimaryKeyRelatedField(
        queryset=Item.objects.filter(is_active=True), help_text="An active item's id."
    )
    kind = serializers.ChoiceField(choices=INTERACTION_KINDS)
    value = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=5, help_text="Ratings only: 1-5."
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        rating = data["kind"] == Interaction.Kind.RATING
        if rating and data.get("value") is None:
            raise serializers.ValidationError({"value": ["A rating needs a value from 1 to 5."]})
        if not rating and data.get("value") is not None:
            raise serializers.ValidationError({"value": ["Only a rating takes a value."]})
        return data


class InteractionListQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[*INTERACTION_KINDS, Interaction.Kind.VIEW], required=False
    )


# -- recommendations ------------------------------------------------------------------------


class ExplanationSerializer(serializers.Serializer):
    text = serializers.CharField()
    source = serializers.ChoiceField(choices=["llm", "template"])
    model_version = serializers.CharField()
    cited_item_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Items of your history the text names."
    )
    statement_ids = serializers.ListField(
        child=serializers.CharField(), help_text="Profile statements the text cites."
    )
    pending = serializers.BooleanField(
        default=False, help_text="A template text; the worker is writing the LLM one."
    )


class HistoryEvidenceSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField(
        help_text="The score component this history item explains: its name in `components` "
        "(collaborative, sequential, text, llm)."
    )
    weight = serializers.FloatField(
        help_text="How much of that component's part it accounts for (removing it from your "
        "history lowers the part by this much)."
    )


class StatementEvidenceSerializer(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    polarity = serializers.ChoiceField(choices=list(POLARITIES))
    contribution = serializers.FloatField(help_text="Its part of the item's final score.")
    match = serializers.CharField(
        required=False,
        help_text='Why the item matches it, on the catalogue\'s facts ("genre: Animation", '
        '"1990s") or "similar text".',
    )


class EvidenceSerializer(serializers.Serializer):
    """What the explanation was written from (catalogue indices are left out: internal)."""

    item_id = serializers.IntegerField()
    title = serializers.CharField()
    year = serializers.IntegerField()
    genres = serializers.ListField(child=serializers.CharField())
    components = serializers.DictField(child=serializers.FloatField())
    history = HistoryEvidenceSerializer(many=True)
    statements = StatementEvidenceSerializer(many=True)


class RecommendationSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    item = ItemSerializer()
    score = serializers.FloatField()
    components = serializers.DictField(
        child=serializers.FloatField(),
        help_text="Score parts by role (collaborative, sequential, text, profile, ...).",
    )
    explanation = ExplanationSerializer(allow_null=True)
    evidence = serializers.SerializerMethodField()

    @extend_schema_field(EvidenceSerializer(allow_null=True))
    def get_evidence(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        return (
            self._evidence.to_representation(entry["evidence"]) if entry.get("evidence") else None
        )

    @functools.cached_property
    def _evidence(self) -> EvidenceSerializer:
        # one for the whole list: a serializer copies its fields when it is made, and one
        # made per item was most of a ?limit=100 answer's time (~0.1 s of ~0.2 s)
        return EvidenceSerializer()


class SectionSerializer(serializers.Serializer):
    heading = serializers.CharField(
        help_text='What raised these cards most, said once: "Because you watched Heat".'
    )
    ranks = serializers.ListField(
        child=serializers.IntegerField(), help_text="The ranks (in results) of its cards."
    )


class RecommendationListSerializer(serializers.Serializer):
    model_version = serializers.CharField(help_text='"profile-only" for a cold start.')
    profile_fingerprint = serializers.CharField(source="fingerprint")
    vectors_ready = serializers.BooleanField(
        help_text="False until the worker has embedded the catalogue (statements wait)."
    )
    results = RecommendationSerializer(many=True, source="entries")
    sections = SectionSerializer(
        many=True, help_text="The page's rows: results grouped by their leading reason."
    )


class RecommendationQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)


# -- profile --------------------------------------------------------------------------------


class StatementSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    text = serializers.CharField()
    polarity = serializers.ChoiceField(choices=list(POLARITIES))
    weight = serializers.FloatField()
    evidence = serializers.ListField(
        child=serializers.IntegerField(), help_text="History items that support it."
    )
    source = serializers.ChoiceField(choices=["generated", "user", "critique", "conversation"])
    pinned = serializers.BooleanField()


class FiltersSerializer(serializers.Serializer):
    include_genres = serializers.ListField(child=serializers.CharField())
    exclude_genres = serializers.ListField(child=serializers.CharField())
    year_min = serializers.IntegerField(allow_null=True)
    year_max = serializers.IntegerField(allow_null=True)
    exclude_items = serializers.ListField(child=serializers.IntegerField())


MAX_FILTER_VALUES = 50  # genres named in one filter
MAX_HIDDEN_ITEMS = 1000  # every version stores the whole profile: keep a profile small
MAX_ID = 2**63 - 1  # the database's largest key: a bigger number is no id (and not a 500)


class FiltersWriteSerializer(serializers.Serializer):
    """Every filter at once; an omitted one is cleared. Genres and items must exist."""

    include_genres = serializers.ListField(
        child=TextField(max_length=100),
        default=list,
        max_length=MAX_FILTER_VALUES,
        help_text="Keep only items with one of these.",
    )
    exclude_genres = serializers.ListField(
        child=TextField(max_length=100), default=list, max_length=MAX_FILTER_VALUES
    )
    year_min = serializers.IntegerField(allow_null=True, default=None, min_value=1800)
    year_max = serializers.IntegerField(allow_null=True, default=None, max_value=2200)
    exclude_items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        default=list,
        max_length=MAX_HIDDEN_ITEMS,
        help_text=f"Item ids never to show (at most {MAX_HIDDEN_ITEMS}).",
    )

    def _genres(self, value: list[str]) -> list[str]:
        known = set(Genre.objects.filter(name__in=value).values_list("name", flat=True))
        unknown = [g for g in value if g not in known]
        if unknown:
            raise serializers.ValidationError(f"Unknown genre: {', '.join(unknown)}.")
        return list(dict.fromkeys(value))

    def validate_include_genres(self, value: list[str]) -> list[str]:
        return self._genres(value)

    def validate_exclude_genres(self, value: list[str]) -> list[str]:
        return self._genres(value)

    def validate_exclude_items(self, value: list[int]) -> list[int]:
        known = set(Item.objects.filter(pk__in=value).values_list("pk", flat=True))
        unknown = [str(pk) for pk in value if pk not in known]
        if unknown:
            raise serializers.ValidationError(f"No item with id {', '.join(unknown)}.")
        return list(dict.fromkeys(value))

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        low, high = data.get("year_min"), data.get("year_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"year_max": ["Must not be before year_min."]})
        both = set(data.get("include_genres", ())) & set(data.get("exclude_genres", ()))
        if both:
            raise serializers.ValidationError(
                {"exclude_genres": [f"Also in include_genres: {', '.join(sorted(both))}."]}
            )
        return data


class ProfileSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="number", help_text="0: no profile yet.")
    fingerprint = serializers.CharField()
    reason = serializers.CharField(help_text="Why this version was written.")
    summary = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    statements = StatementSerializer(many=True, source="profile.statements")
    filters = FiltersSerializer(source="profile.filters")


class StatementAddSerializer(serializers.Serializer):
    text = TextField(max_length=TEXT_MAX)
    polarity = serializers.ChoiceField(choices=list(POLARITIES), default="likes")


class StatementPatchSerializer(serializers.Serializer):
    text = TextField(max_length=TEXT_MAX, required=False)
    polarity = serializers.ChoiceField(choices=list(POLARITIES), required=False)
    weight = serializers.FloatField(min_value=0.0, max_value=MAX_WEIGHT, required=False)
    pinned = serializers.BooleanField(required=False)


class StatementReplaceSerializer(StatementPatchSerializer):
    id = TextField(
        required=False, help_text="A current statement's id to keep it (edited); omit for new."
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data.get("id") and not data.get("text"):
            raise serializers.ValidationError({"text": ["A new statement needs text."]})
        return data


class ProfileReplaceSerializer(serializers.Serializer):
    statements = StatementReplaceSerializer(many=True, max_length=100)

    def validate_statements(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [s["id"] for s in value if s.get("id")]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("Each statement id may appear only once.")
        return value


class VersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(read_only=True, slug_field="username")

    class Meta:
        model = ProfileVersion
        fields = [
            "number",
            "reason",
            "summary",
            "fingerprint",
            "created_at",
            "created_by",
            "reverted_from",
            "critique",
            "critique_undone",
        ]
        read_only_fields = fields


class StatementChangeSerializer(serializers.Serializer):
    id = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())
    before = StatementSerializer()
    after = StatementSerializer()


class FiltersChangeSerializer(serializers.Serializer):
    before = FiltersSerializer()
    after = FiltersSerializer()


class DiffSerializer(serializers.Serializer):
    added = StatementSerializer(many=True)
    removed = StatementSerializer(many=True)
    changed = StatementChangeSerializer(many=True)
    filters = FiltersChangeSerializer(allow_null=True)
    reordered = serializers.BooleanField()


class HistoryEntrySerializer(serializers.Serializer):
    """One version and what changed since the one before it."""

    version = VersionSerializer()
    diff = serializers.SerializerMethodField()

    @extend_schema_field(DiffSerializer)
    def get_diff(self, entry: dict[str, Any]) -> dict[str, Any]:
        return entry["diff"].to_dict()


class JobSerializer(serializers.ModelSerializer):
    task = serializers.CharField(source="task_name")

    class Meta:
        model = JobRun
        fields = [
            "id",
            "task",
            "state",
            "progress",
            "message",
            "result",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


# -- critiques and chat ---------------------------------------------------------------------


class CritiqueItemSerializer(serializers.Serializer):
    item = serializers.PrimaryKeyRelatedField(queryset=Item.objects.all())
    kind = serializers.ChoiceField(choices=["more", "less", "not_for_me"])
    reason = TextField(max_length=200, required=False, default="", allow_blank=True)


class CritiqueListSerializer(serializers.Serializer):
    text = TextField(max_length=300, help_text='e.g. "less violent, more comedies"')


class MessageSerializer(serializers.Serializer):
    message = TextField(max_length=300)


class ChatCardSerializer(ItemSerializer):
    """An item the chat suggests, and why it fits the request. Renders the selector's cards
    (``{"item": Item, "why": str}``)."""

    why = serializers.CharField(
        read_only=True,
        help_text='Why it fits, from catalogue facts: "a 1995 animated comedy" ("" if unknown).',
    )

    class Meta(ItemSerializer.Meta):
        fields = [*ItemSerializer.Meta.fields, "why"]
        read_only_fields = fields

    def to_representation(self, card: dict[str, Any]) -> dict[str, Any]:
        # an Item has no "why", so the item's own fields render and the reason is added
        return {**super().to_representation(card["item"]), "why": card["why"]}


class TurnSerializer(serializers.Serializer):
    who = serializers.ChoiceField(choices=["you", "bot"])
    text = serializers.CharField()
    items = ChatCardSerializer(many=True, source="cards", help_text="Item cards the reply names.")
    understood = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text='What the message was read as, one phrase each: "thrillers", "not horror", '
        '"like Seven (1995)", "not in the catalogue: Moon (2009)" (replies only).',
    )


class ConversationSerializer(serializers.Serializer):
    turns = TurnSerializer(many=True)
    has_state = serializers.BooleanField(help_text="There are wishes to keep in the profile.")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
