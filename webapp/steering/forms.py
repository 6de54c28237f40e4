from __future__ import annotations

from django import forms

from explanations.profile import MAX_WEIGHT

POLARITY = [("likes", "I like"), ("avoids", "I avoid")]


class StatementAddForm(forms.Form):
    text = forms.CharField(max_length=200, strip=True, label="Statement")
    polarity = forms.ChoiceField(choices=POLARITY, initial="likes", required=False)

    def clean_polarity(self) -> str:
        return self.cleaned_data.get("polarity") or "likes"


class StatementEditForm(forms.Form):
    """One statement's row. ``save`` applies text, polarity, weight and pin at once (one
    version); the single-change actions stay for older pages and scripts."""

    action = forms.ChoiceField(
        choices=[(a, a) for a in ("save", "text", "flip", "weight", "pin", "unpin", "delete")]
    )
    text = forms.CharField(max_length=200, required=False, strip=True)
    polarity = forms.ChoiceField(choices=POLARITY, required=False)
    weight = forms.FloatField(required=False, min_value=0.0, max_value=MAX_WEIGHT)
    pinned = forms.BooleanField(required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        action = data.get("action")
        # a field that failed its own check already says why; don't pile on a second error
        if action in ("save", "text") and not data.get("text") and "text" not in self.errors:
            self.add_error("text", "A statement needs some words.")
        if (
            action in ("save", "weight")
            and data.get("weight") is None
            and "weight" not in self.errors
        ):
            self.add_error("weight", f"Give a weight between 0 and {MAX_WEIGHT:g}.")
        return data


class StatementPreviewForm(forms.Form):
    """What the profile page sends while a statement is being edited (``sid`` set) or
    written (no ``sid``): nothing is saved."""

    sid = forms.CharField(max_length=40, required=False)
    text = forms.CharField(max_length=200, strip=True)
    polarity = forms.ChoiceField(choices=POLARITY, required=False)
    weight = forms.FloatField(required=False, min_value=0.0, max_value=MAX_WEIGHT)
    pinned = forms.BooleanField(required=False)

    def changes(self) -> dict[str, object]:
        """The service's keyword arguments; an unset weight leaves the weight alone."""
        data = self.cleaned_data
        if not data["sid"]:
            return {"text": data["text"], "polarity": data["polarity"] or "likes"}
        out = {k: data[k] for k in ("text", "polarity", "weight", "pinned")}
        return {k: v for k, v in out.items() if v not in (None, "")}


class ColdStartForm(forms.Form):
    text = forms.CharField(
        max_length=500,
        strip=True,
        label="What do you like to watch?",
        widget=forms.Textarea(attrs={"rows": 4, "data-testid": "onboarding-text"}),
        help_text="For example: slow-burn thrillers and funny animated films, nothing before 1980.",
    )


class CritiqueItemForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("more", "More like this"),
            ("less", "Less like this"),
            ("not_for_me", "Not for me"),
        ]
    )
    reason = forms.CharField(max_length=200, required=False, strip=True)


class CritiqueListForm(forms.Form):
    text = forms.CharField(max_length=300, strip=True, label="Change this list")


class ChatForm(forms.Form):
    message = forms.CharField(
        max_length=300,
        strip=True,
        label="Message",
        widget=forms.TextInput(
            attrs={
                "data-testid": "chat-input",
                "autocomplete": "off",
                "placeholder": "e.g. a funny animated film from the 90s",
            }
        ),
    )
