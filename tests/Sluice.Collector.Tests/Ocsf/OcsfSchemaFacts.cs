using System.Text.Json;

namespace Sluice.Collector.Tests.Ocsf;

/// <summary>
/// Checks an OCSF object against the facts taken from the schema (ocsf-required.json, see its <c>source</c>):
/// the class's required attributes are present, every attribute is one the class or object defines and has
/// its JSON type, nested objects are checked the same way (with their at_least_one constraints), enum ids are
/// the schema's, type_uid is class_uid * 100 + activity_id, and time is an integer in milliseconds.
/// </summary>
internal sealed class OcsfSchemaFacts
{
    private readonly JsonElement _facts;

    // Whether the object being checked declares OCSF's container profile (metadata.profiles): then the objects that
    // include it (process, endpoint) also take its attributes (container, namespace_pid).
    private bool _containerProfile;

    private OcsfSchemaFacts(JsonElement facts) => _facts = facts;

    public static OcsfSchemaFacts Load() =>
        new(JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Ocsf", "ocsf-required.json"))).RootElement.Clone());

    public string Version => _facts.GetProperty("version").GetString()!;

    /// <summary>What is wrong with <paramref name="ev"/>; empty when it conforms.</summary>
    public List<string> Check(JsonElement ev)
    {
        var errors = new List<string>();
        if (ev.ValueKind != JsonValueKind.Object)
        {
            errors.Add("not an object");
            return errors;
        }
        if (!ev.TryGetProperty("class_uid", out JsonElement cu) || !cu.TryGetInt32(out int classUid)
            || !_facts.GetProperty("classes").TryGetProperty(classUid.ToString(System.Globalization.CultureInfo.InvariantCulture), out JsonElement cls))
        {
            errors.Add("class_uid missing or not a class Sluice writes");
            return errors;
        }
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty a in cls.GetProperty("attributes").EnumerateObject())
        {
            attributes[a.Name] = a.Value.GetString()!;
        }
        bool host = ev.TryGetProperty("metadata", out JsonElement md) && md.ValueKind == JsonValueKind.Object
            && md.TryGetProperty("profiles", out JsonElement profiles) && profiles.ValueKind == JsonValueKind.Array
            && profiles.EnumerateArray().Any(p => p.ValueKind == JsonValueKind.String && p.GetString() == "host");
        _containerProfile = md.ValueKind == JsonValueKind.Object && md.TryGetProperty("profiles", out JsonElement declared)
            && declared.ValueKind == JsonValueKind.Array
            && declared.EnumerateArray().Any(p => p.ValueKind == JsonValueKind.String && p.GetString() == "container");
        if (host)
        {
            foreach (JsonProperty a in _facts.GetProperty("host_profile").EnumerateObject())
            {
                attributes.TryAdd(a.Name, a.Value.GetString()!);
            }
        }
        CheckObject(ev, "", attributes, cls, errors);

        if (ev.TryGetProperty("activity_id", out JsonElement act) && act.TryGetInt64(out long activity)
            && ev.TryGetProperty("type_uid", out JsonElement tu) && tu.TryGetInt64(out long typeUid) && typeUid != (classUid * 100L) + activity)
        {
            errors.Add($"type_uid {typeUid} is not class_uid * 100 + activity_id ({(classUid * 100L) + activity})");
        }
        if (ev.TryGetProperty("category_uid", out JsonElement cat) && cat.TryGetInt32(out int category) && category != cls.GetProperty("category_uid").GetInt32())
        {
            errors.Add($"category_uid {category} is not the class's category");
        }
        // milliseconds since the epoch: 2001-09-09 .. 2286; seconds would be far below
        if (ev.TryGetProperty("time", out JsonElement time) && (!time.TryGetInt64(out long ms) || ms < 1_000_000_000_000 || ms >= 10_000_000_000_000))
        {
            errors.Add($"time {time.GetRawText()} is not an integer time in milliseconds");
        }
        if (md.ValueKind == JsonValueKind.Object && (!md.TryGetProperty("version", out JsonElement v) || v.ValueKind != JsonValueKind.String || v.GetString() != Version))
        {
            errors.Add($"metadata.version is not {Version}");
        }
        return errors;
    }

    private void CheckObject(JsonElement obj, string path, Dictionary<string, string> attributes, JsonElement spec, List<string> errors)
    {
        foreach (JsonElement r in spec.GetProperty("required").EnumerateArray())
        {
            if (!obj.TryGetProperty(r.GetString()!, out _))
            {
                errors.Add($"{path}{r.GetString()}: required, missing");
            }
        }
        if (spec.TryGetProperty("at_least_one", out JsonElement any) && any.ValueKind == JsonValueKind.Array
            && !any.EnumerateArray().Any(a => obj.TryGetProperty(a.GetString()!, out _)))
        {
            errors.Add($"{path.TrimEnd('.')}: needs at least one of {any.GetRawText()}");
        }
        JsonElement enums = spec.GetProperty("enums");
        foreach (JsonProperty p in obj.EnumerateObject())
        {
            string at = path + p.Name;
            if (!attributes.TryGetValue(p.Name, out string? type))
            {
                errors.Add($"{at}: not an attribute of this class or object in OCSF {Version}");
                continue;
            }
            CheckValue(p.Value, at, type, errors);
            if (enums.TryGetProperty(p.Name, out JsonElement ids)
                && !(p.Value.TryGetInt32(out int id) && ids.EnumerateArray().Any(i => i.GetInt32() == id)))
            {
                errors.Add($"{at}: {p.Value.GetRawText()} is not one of {ids.GetRawText()}");
            }
        }
    }

    private void CheckValue(JsonElement value, string at, string type, List<string> errors)
    {
        if (type.StartsWith("array:", StringComparison.Ordinal))
        {
            if (value.ValueKind != JsonValueKind.Array)
            {
                errors.Add($"{at}: expected an array");
                return;
            }
            int i = 0;
            foreach (JsonElement item in value.EnumerateArray())
            {
                CheckValue(item, $"{at}[{i++}]", type["array:".Length..], errors);
            }
            return;
        }
        if (type.StartsWith("object:", StringComparison.Ordinal))
        {
            string name = type["object:".Length..];
            if (!_facts.GetProperty("objects").TryGetProperty(name, out JsonElement spec))
            {
                errors.Add($"{at}: object {name} is not in the facts (add it to extract-ocsf-facts.py)");
                return;
            }
            if (value.ValueKind != JsonValueKind.Object)
            {
                errors.Add($"{at}: expected an object ({name})");
                return;
            }
            var attributes = spec.GetProperty("attributes").EnumerateObject().ToDictionary(a => a.Name, a => a.Value.GetString()!, StringComparer.Ordinal);
            JsonElement container = _facts.GetProperty("container_profile");
            if (_containerProfile && container.GetProperty("objects").EnumerateArray().Any(o => o.GetString() == name))
            {
                foreach (JsonProperty a in container.GetProperty("attributes").EnumerateObject())
                {
                    attributes.TryAdd(a.Name, a.Value.GetString()!);
                }
            }
            CheckObject(value, at + ".", attributes, spec, errors);
            return;
        }
        bool ok = type switch
        {
            "string" => value.ValueKind == JsonValueKind.String,
            "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
            "number" => value.ValueKind == JsonValueKind.Number,
            "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            // unmapped: free-form, but an object
            "object" => value.ValueKind == JsonValueKind.Object,
            "any" => true,
            _ => false,
        };
        if (!ok)
        {
            errors.Add($"{at}: {value.ValueKind} is not {type}");
        }
    }
}
