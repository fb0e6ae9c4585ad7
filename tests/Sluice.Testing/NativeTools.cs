using System.Diagnostics;

namespace Sluice.Testing;

/// <summary>Compiles the small C helpers in Native/ with gcc, once per test run.</summary>
public static class NativeTools
{
    private static readonly string s_dir = Path.Combine(Path.GetTempPath(), $"sluice-native-{Environment.ProcessId}");
    private static readonly Dictionary<string, string> s_built = new();

    /// <summary>Path of the compiled helper <paramref name="name"/> (Native/name.c).</summary>
    public static string Get(string name)
    {
        lock (s_built)
        {
            if (s_built.TryGetValue(name, out var path))
            {
                return path;
            }
            Directory.CreateDirectory(s_dir);
            string source = Path.Combine(AppContext.BaseDirectory, "Native", name + ".c");
            path = Path.Combine(s_dir, name);
            var (code, output) = Run("gcc", $"-O2 -Wall -o {path} {source}");
            if (code != 0)
            {
                throw new InvalidOperationException($"gcc could not build {source} (is gcc installed?):\n{output}");
            }
            s_built[name] = path;
            return path;
        }
    }

    public static (int ExitCode, string Output) Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }
}
