"""A SageMaker training-job emulator that boto3 talks to unmodified (issue 3).

It speaks SageMaker's own JSON 1.1 protocol for the training-job operations (and SQS's JSON
1.0 for a queue of job-state-change events), validates every request against botocore's
service model, moves jobs through the real status lifecycle on a scaled clock, injects
faults on demand, and counts calls. The operator and the emulator meet
only over HTTP: nothing here imports the operator's other subpackages.

Modules, one activity each:

``protocol``    the wire format and the error answers
``validation``  requests checked against botocore's shapes
``lifecycle``   a job's status as a pure function of its plan and the clock
``store``       job records in memory, journalled to a file if asked
``listing``     ListTrainingJobs filters, sorting and paging
``operations``  what each call does, and the fate tags
``faults``      token-bucket throttling, 5xx fraction, latency, lost responses; event faults
``counters``    calls per operation and outcome
``sqs``         the SQS subset an event consumer uses, on the same port
``events``      job-state-change events, published to an SQS queue as EventBridge would
``server``      the aiohttp app and the admin endpoint (off unless ``Settings.admin``)
``settings``    start-up configuration
``command``     the ``sagemaker-operator emulator`` command
``testing``     start one in a background thread, with an admin client
"""
