var builder = WebApplication.CreateBuilder(args);
builder.Services.AddGrpc();
var app = builder.Build();

app.MapGet("/healthz", () => Results.Text("ok\n"));

app.Run();
