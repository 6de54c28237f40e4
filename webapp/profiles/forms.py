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
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("text", "flip", "weight", "pin", "unpin", "delete")]
    )
    text = forms.CharField(max_length=200, required=False, strip=True)
    weight = forms.FloatField(required=False, min_value=0.0, max_value=MAX_WEIGHT)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("action") == "text" and not data.get("text"):
            self.add_error("text", "A statement needs some words.")
        if data.get("action") == "weight" and data.get("weight") is None:
            self.add_error("weight", f"Give a weight between 0 and {MAX_WEIGHT:g}.")
        return data


class ColdStartForm(forms.Form):
    text = forms.CharField(
        max_length=500,
        strip=True,
        label="What do you like to watch?",
        widget=forms.Textarea(attrs={"rows": 3}),
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
    message = forms.CharField(max_length=300, strip=True, label="Message")
