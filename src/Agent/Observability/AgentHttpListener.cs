using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Replug.Agent.Hosting;

namespace Replug.Agent.Observability;

/// <summary>
/// The agent's small HTTP listener (<see cref="AgentOptions.HttpUrls"/>): <c>/metrics</c>,
/// <c>/health/live</c> and <c>/health/ready</c>, answered from the agent's own services. A Kestrel
/// of its own, built empty (no configuration, no other endpoints), so the agent stays a plain
/// generic host and nothing else can be reached over it. Registered after the actors: it stops first.
/// </summary>
public sealed class AgentHttpListener(AgentOptions options, IServiceProvider services, ILogger<AgentHttpListener> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var urls = ListenUrls.Split(options.HttpUrls);
        if (urls.Count == 0) return;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(services.GetRequiredService<PrometheusExport>());
        var app = builder.Build();
        app.UseRouting();
        app.MapReplugMetrics();
        app.MapAgentHealth(services);
        foreach (var url in urls) app.Urls.Add(url);
        _app = app;
        await app.StartAsync(cancellationToken);
        logger.LogInformation("Agent metrics and health listening on {Urls}", string.Join(", ", app.Urls));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null) await _app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
