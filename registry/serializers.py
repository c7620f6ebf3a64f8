"""Serializers the register's API shares: what every write carries besides its values,
and each repeating section's output and input, made from its model (registry/sections.py
keeps one pair per section)."""

from datetime import date, datetime, time

from django.db import models
from django.utils import timezone
from rest_framework import serializers


class WriteMeta(serializers.Serializer):
    """What every write may carry besides the values."""

    version = serializers.IntegerField(
        required=False,
        help_text="The version you loaded; required when changing a stored row (PATCH/PUT); "
        "a newer one answers 409.",
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Why the change is made (kept in the history).",
    )
    acknowledge_warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Codes of the warnings you have read (a 400 lists 'Warning [code]: ...').",
    )

    def __init__(self, *args, changes_stored_row: bool = False, **kwargs):
        """`changes_stored_row`: a PATCH or PUT of a row that exists, which must name the
        version it was loaded at (else a newer edit is overwritten unseen: a lost update)."""
        super().__init__(*args, **kwargs)
        self.changes_stored_row = changes_stored_row

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.changes_stored_row and attrs.get("version") is None:
            raise serializers.ValidationError(
                {
                    "version": "Required on every change: the version you loaded (from the "
                    "GET), so a newer edit is never overwritten."
                }
            )
        return attrs

    def meta(self) -> dict:
        data = self.validated_data
        return {
            "expected_version": data.get("version"),
            "reason": data.get("reason", ""),
            "acknowledge": data.get("acknowledge_warnings", []),
        }

    def values(self) -> dict:
        return {
            k: v
            for k, v in self.validated_data.items()
            if k not in ("version", "reason", "acknowledge_warnings")
        }


class ClockTimeField(serializers.TimeField):
    """A time of day, written with its UTC offset (RFC 3339 full-time,
    https://www.rfc-editor.org/rfc/rfc3339#section-5.6): 14:05:00+02:00. Read without an
    offset (14:05, as the form takes it) it is the time in Norway."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                return time.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail("invalid", format="hh:mm[:ss][+HH:MM|Z]")


# A section's times of day and the date each belongs to: the offset depends on the date
# (summer time), so the pair makes the instant.
LOCAL_TIMES = {"surgery_end_time": "surgery_date"}


def _local_clock_time(value: time, day: date) -> time:
    """`value` as the time in Norway on `day`; one given with an offset is converted."""
    if value.tzinfo is None:
        return value
    local = timezone.localtime(datetime.combine(day, value))
    if local.date() != day:
        raise serializers.ValidationError(
            f"{value.isoformat()} is on {local.date().isoformat()} in Norway, not on the "
            f"date {day.isoformat()}: give the time without an offset."
        )
    return local.time().replace(tzinfo=None)


def section_serializers(model) -> tuple[type, type]:
    """The output and input serializers of one section's model (registry/sections.py)."""
    local_times = {t: d for t, d in LOCAL_TIMES.items() if hasattr(model, t)}

    class Output(serializers.ModelSerializer):
        serializer_field_mapping = {
            **serializers.ModelSerializer.serializer_field_mapping,
            models.TimeField: ClockTimeField,
        }

        class Meta:
            fields = "__all__"

        def to_representation(self, row):
            data = super().to_representation(row)
            for name, day in local_times.items():
                if getattr(row, name):
                    aware = timezone.make_aware(
                        datetime.combine(getattr(row, day), getattr(row, name))
                    )
                    data[name] = aware.isoformat().split("T", 1)[1]
            return data

    class Input(WriteMeta, serializers.ModelSerializer):
        serializer_field_mapping = Output.serializer_field_mapping

        class Meta:
            exclude = ["id", "episode", "acknowledged_warnings"]

        def validate(self, attrs):
            attrs = super().validate(attrs)
            row = self.context.get("row")
            for name, day in local_times.items():
                if attrs.get(name) is not None:
                    on = attrs.get(day) or getattr(row, day, None)
                    try:
                        attrs[name] = _local_clock_time(attrs[name], on)
                    except serializers.ValidationError as exc:
                        raise serializers.ValidationError({name: exc.detail}) from None
            return attrs

    Output.Meta.model = Input.Meta.model = model
    Output.__name__, Input.__name__ = f"{model.__name__}Output", f"{model.__name__}Input"
    Output.Meta.ref_name, Input.Meta.ref_name = f"{model.__name__}", f"{model.__name__}Input"
    return Output, Input
