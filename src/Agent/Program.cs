// Placeholder: the agent host is composed in Hosting/ (see AgentHost).
return 0;
