from datasite.cli.app import app

app(prog_name="datasite")
