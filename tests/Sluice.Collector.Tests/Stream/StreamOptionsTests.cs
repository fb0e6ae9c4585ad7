using Sluice.Collector.Streaming;
using Sluice.Collector.Tests.Support;

namespace Sluice.Collector.Tests.Stream;

/// <summary>serve's --stream options: bad values stop the real program with exit 2 and a message naming the option.</summary>
public sealed class StreamOptionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sluice-stream-options-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(int ExitCode, string Output)> ServeAsync(params string[] stream)
    {
        using var collector = CollectorProcess.Start(
            new[] { "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:" + Path.Combine(_dir, "events.db"), "--insecure-no-auth" }.Concat(stream));
        int rc = await collector.ExitAsync(TimeSpan.FromMinutes(2));
        return (rc, collector.Output);
    }

    [Theory]
    [InlineData("--stream", "http://127.0.0.1:4222", "--stream 'http://127.0.0.1:4222': expected nats://HOST:PORT")]
    [InlineData("--stream", "nats://127.0.0.1:4222,", "--stream '': expected nats://HOST:PORT")]
    [InlineData("--stream", "nats://alice:secret@127.0.0.1:4222", "no credentials in the URL")]
    [InlineData("--stream", "nats://127.0.0.1:4222/x", "--stream 'nats://127.0.0.1:4222/x'")]
    [InlineData("--stream-name", "a.b", "--stream-name 'a.b': 1-64 characters")]
    [InlineData("--stream-format", "xml", "--stream-format 'xml': expected replay or ocsf")]
    [InlineData("--stream-replicas", "0", "--stream-replicas '0': expected a whole number from 1 to 5")]
    [InlineData("--stream-replicas", "x", "--stream-replicas 'x'")]
    [InlineData("--stream-buffer-events", "0", "--stream-buffer-events '0'")]
    [InlineData("--stream-buffer-events", "1e6", "--stream-buffer-events '1e6'")]
    [InlineData("--stream-max-wait", "-1", "--stream-max-wait '-1'")]
    [InlineData("--stream-max-wait", "60001", "--stream-max-wait '60001'")]
    public async Task BadValue_Exit2_NamingTheOption(string option, string value, string message)
    {
        var args = option == "--stream" ? new[] { option, value } : new[] { "--stream", "nats://127.0.0.1:4222", option, value };
        var (rc, output) = await ServeAsync(args);
        Assert.True(rc == 2, $"exit {rc}:\n{output}");
        Assert.Contains(message, output);
        Assert.DoesNotContain("secret", output);
    }

    [Fact]
    public async Task StreamOptionWithoutStream_Exit2()
    {
        var (rc, output) = await ServeAsync("--stream-name", "EVENTS");
        Assert.Equal(2, rc);
        Assert.Contains("--stream-name needs --stream", output);
    }

    [Fact]
    public async Task CredentialsFileOpenToOthers_Exit1_NamingTheFileAndMode()
    {
        string file = Path.Combine(_dir, "nats.creds");
        await File.WriteAllTextAsync(file, "sluice:password\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var (rc, output) = await ServeAsync("--stream", "nats://127.0.0.1:4222", "--stream-credentials", file);
        Assert.Equal(1, rc);
        Assert.Contains($"--stream-credentials {file} has mode 0640", output);
    }

    [Fact]
    public void Servers_SeveralSeeds_DefaultPort()
    {
        var servers = StreamOptions.ParseServers("nats://10.0.0.1:4222, nats://n2.example:5222,tls://n3.example");
        Assert.Equal(["nats://10.0.0.1:4222/", "nats://n2.example:5222/", "tls://n3.example:4222/"], servers.Select(s => s.ToString()));
    }

    [Fact]
    public void Credentials_UserPassword_Token_Creds()
    {
        string file = Path.Combine(_dir, "c");
        void Write(string text)
        {
            File.WriteAllText(file, text);
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        Write("# the collector's NATS user\nsluice:pa:ss\n");
        var auth = StreamCredentials.Load(file);
        Assert.Equal(("sluice", "pa:ss"), (auth.Username, auth.Password));
        Write("s3cr3t-token\n");
        Assert.Equal("s3cr3t-token", StreamCredentials.Load(file).Token);
        Write("-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n");
        Assert.StartsWith("-----BEGIN NATS USER JWT-----", StreamCredentials.Load(file).Creds);
        Write("\n# nothing\n");
        Assert.Throws<FormatException>(() => StreamCredentials.Load(file));
    }
}
